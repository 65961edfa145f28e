"""Make the committed trimmed extract of NHANES 2013-2014 (only the columns Pulsecure uses).

    python -m training.extract [--source ../shared/data/nhanes/2013-2014]

Writes `training/data/nhanes_2013_2014_extract.csv` and its sha256 beside it. Only this
command needs the full files; training reads the extract and checks its hash.
"""
from __future__ import annotations

import argparse
import hashlib
from pathlib import Path

from training.spec import COLUMNS, OTHER_CYCLE_COLUMNS, load_merged

HERE = Path(__file__).resolve().parent
EXTRACT = HERE / "data" / "nhanes_2013_2014_extract.csv"
EXTRACT_SHA256 = EXTRACT.with_suffix(".csv.sha256")
DEFAULT_SOURCE = HERE.parent.parent / "shared" / "data" / "nhanes" / "2013-2014"


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file's bytes."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def make_extract(source: Path, dest: Path = EXTRACT) -> str:
    """Write the extract (rows sorted by SEQN, fixed column order) and return its sha256."""
    merged = load_merged(source)
    cols = ["SEQN"] + [c for name in COLUMNS for c in COLUMNS[name] if c != "SEQN"] + \
        OTHER_CYCLE_COLUMNS
    merged = merged[cols].sort_values("SEQN")
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_suffix(".tmp")
    merged.to_csv(tmp, index=False, float_format="%.6g", lineterminator="\n")
    tmp.replace(dest)
    digest = sha256_file(dest)
    dest.with_suffix(".csv.sha256").write_text(f"{digest}  {dest.name}\n")
    return digest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE)
    args = parser.parse_args()
    print(make_extract(args.source))


if __name__ == "__main__":
    main()
