"""The PREVENT and PCE cohorts of NHANES 2013-2014: adults without known cardiovascular disease
in the equation's ages (PREVENT 30-79, the 2013 Pooled Cohort Equations 40-79), with every input
of the equation derived from the raw NHANES variables.

    python -m training.prevent_cohort --extract [--source ../shared/data/nhanes/2013-2014]
    python -m training.prevent_cohort [--equation models/equations/pce-ascvd-10y.json]

`--extract` reads the four raw CSVs and writes the committed trimmed extract
`training/data/nhanes_2013_2014_prevent.csv` (only the raw columns below, only participants
aged 30-79, rows sorted by SEQN) and its sha256 beside it, and the sibling race extract
`training/data/nhanes_2013_2014_race.csv` (SEQN and RIDRETH3 of the same participants, for the
PCE; a separate file so that the PREVENT extract, whose sha256 other releases record, keeps its
bytes) with its sha256. Every other use reads only the extracts and refuses one whose sha256
differs from the committed one, so the measured figures always come from the same bytes.

Definitions (NHANES 2013-2014 codes):

- eligible age: RIDAGEYR within the equation's age range (PREVENT 30-79, PCE 40-79; 80 is the
  top code "80 or older", so it is outside); the extract keeps 30-79, which holds both;
- known CVD: any of MCQ160B/C/D/E/F == 1 (heart failure, CHD, angina, heart attack, stroke)
  -> excluded and counted; none == 1 but one of them blank or 7/9 -> CVD history unknown,
  excluded and counted;
- sex: RIAGENDR 1 male, 2 female;
- race (PCE): RIDRETH3 4 (non-Hispanic Black) -> black, 3 (non-Hispanic White) -> white, any
  other code (Mexican American, other Hispanic, non-Hispanic Asian, other or multi-racial) ->
  other (the PCE use the white equations for them, as published);
- sbp: mean of the available BPXSY1-4 readings (a 0 or blank reading is not a reading);
- total_c: LBXTC, hdl_c: LBDHDD (mg/dL; 0 = missing);
- egfr: race-free CKD-EPI 2021 from serum creatinine LBXSCR (mg/dL; 0 = missing), age, sex;
- dm: DIQ010 == 1 (3 "borderline" counts as no);
- smoking: SMQ040 in {1, 2} (every day / some days); SMQ020 == 2 (fewer than 100 cigarettes
  in life, SMQ040 then skipped) -> 0;
- bp_tx: BPQ050A == 1 (now taking prescribed blood-pressure medicine). BPQ050A is asked only
  after BPQ040A == 1, which is asked only after BPQ020 == 1: a blank BPQ050A because an earlier
  question was answered "no" (2) -> 0;
- statin: BPQ100D == 1 (now taking prescribed cholesterol medicine). BPQ100D is asked only
  after BPQ090D == 1, which is asked only after BPQ080 == 1 or BPQ060 == 1: a blank because
  the earlier questions were answered "no" -> 0.

7 (refused) and 9 (don't know) are missing, also when they sit earlier in a skip chain (the
later answer is then unknown). A participant with any input missing is excluded and counted
under the first missing input (inputs in the equation's order); one whose inputs are all known
but one lies outside the equation's published range is excluded as "out of range" and counted
per input: the product refuses such a row rather than clamping it, so clamping here would
measure something the product never computes.

The inputs, their ranges and the eligible ages come from the equation declaration
(`models/equations/prevent-cvd-10y.json` by default, `pce-ascvd-10y.json` for the PCE), not
from constants here. Messages name fields and reasons, never a participant's value.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
EXTRACT = HERE / "data" / "nhanes_2013_2014_prevent.csv"
EXTRACT_SHA256 = EXTRACT.with_suffix(".csv.sha256")
RACE_EXTRACT = HERE / "data" / "nhanes_2013_2014_race.csv"
RACE_COLUMNS = ["SEQN", "RIDRETH3"]  # from the demographic file
DEFAULT_SOURCE = ROOT.parent / "shared" / "data" / "nhanes" / "2013-2014"
EQUATION = ROOT / "models" / "equations" / "prevent-cvd-10y.json"
PCE_EQUATION = ROOT / "models" / "equations" / "pce-ascvd-10y.json"

MIN_AGE, MAX_AGE = 30, 79  # the extract's ages: every equation's eligible ages fall inside
AGE_INPUT = "age"
CVD_ITEMS = ["MCQ160B", "MCQ160C", "MCQ160D", "MCQ160E", "MCQ160F"]
SBP_READINGS = ["BPXSY1", "BPXSY2", "BPXSY3", "BPXSY4"]
# Raw columns per NHANES file, in the extract's column order (after SEQN).
RAW_COLUMNS = {
    "demographic": ["RIDAGEYR", "RIAGENDR"],
    "examination": SBP_READINGS,
    "labs": ["LBXTC", "LBDHDD", "LBXSCR"],
    "questionnaire": CVD_ITEMS + ["DIQ010", "SMQ020", "SMQ040", "BPQ020", "BPQ040A",
                                  "BPQ050A", "BPQ080", "BPQ060", "BPQ090D", "BPQ100D"],
}
EXTRACT_COLUMNS = ["SEQN"] + [c for cols in RAW_COLUMNS.values() for c in cols]
# XPT-to-CSV conversion can leave a 0 as a tiny float such as 5.4e-79.
TINY = 1e-10
YES, NO = 1, 2
NOT_AN_ANSWER = {7, 9}  # refused, don't know

# Exclusion reasons, in the order they are applied (each participant counts under one).
KNOWN_CVD = "known CVD"
CVD_UNKNOWN = "CVD history unknown"
OUT_OF_RANGE = "out of range"


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file's bytes."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_atomic(path: Path, text: str) -> None:
    """Write `text` to a temp file beside `path`, then rename it over `path`, so a reader
    never sees a half-written file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def input_ranges(equation_path: Path = EQUATION) -> dict[str, tuple[float, float]]:
    """The published (min, max) of every numeric input of the PREVENT equations."""
    equation = json.loads(equation_path.read_text())
    ranges = {}
    for spec in equation["inputs"]:
        kind = spec["kind"]
        if isinstance(kind, dict) and "number" in kind:
            ranges[spec["name"]] = (float(kind["number"]["min"]), float(kind["number"]["max"]))
    return ranges


def input_names(equation_path: Path = EQUATION) -> list[str]:
    """Every input of the equation, in declaration order."""
    return [spec["name"] for spec in json.loads(equation_path.read_text())["inputs"]]


def age_range(equation_path: Path = EQUATION) -> tuple[int, int]:
    """The equation's eligible ages: its age input's published range (inside the extract's)."""
    lo, hi = input_ranges(equation_path)[AGE_INPUT]
    if not MIN_AGE <= lo <= hi <= MAX_AGE:
        raise ValueError(f"{equation_path.name}: ages {lo:g}-{hi:g} are not inside the "
                         f"extract's {MIN_AGE}-{MAX_AGE}")
    return int(lo), int(hi)


# ---------------------------------------------------------------------------------------------
# Extract (the only step that reads the raw files)


def read_raw(source: Path) -> pd.DataFrame:
    """The needed raw columns of every participant aged 30-79, one row each, sorted by SEQN.
    Demographics cover every participant; the other files are joined on SEQN (a participant
    without an exam or labs gets blanks)."""
    merged = None
    for name, cols in RAW_COLUMNS.items():
        path = source / f"{name}.csv"
        part = pd.read_csv(path, usecols=["SEQN"] + cols, low_memory=False)
        if part["SEQN"].duplicated().any():
            raise ValueError(f"{name}.csv: SEQN is not unique")
        merged = part if merged is None else merged.merge(part, on="SEQN", how="left")
    assert merged is not None  # RAW_COLUMNS is not empty
    merged = merged[EXTRACT_COLUMNS]
    values = merged.drop(columns="SEQN")
    merged[values.columns] = values.mask(values.abs() < TINY, 0.0)
    merged = merged[(merged["RIDAGEYR"] >= MIN_AGE) & (merged["RIDAGEYR"] <= MAX_AGE)]
    return merged.sort_values("SEQN").reset_index(drop=True)


def read_race(source: Path, seqn: pd.Series) -> pd.DataFrame:
    """SEQN and RIDRETH3 of the participants `seqn` (the PREVENT extract's), in that order."""
    demo = pd.read_csv(source / "demographic.csv", usecols=RACE_COLUMNS, low_memory=False)
    if demo["SEQN"].duplicated().any():
        raise ValueError("demographic.csv: SEQN is not unique")
    return pd.DataFrame({"SEQN": seqn}).merge(demo, on="SEQN", how="left")[RACE_COLUMNS]


def write_extract(frame: pd.DataFrame, dest: Path) -> str:
    """Write one extract and its sha256 (both atomically); return the sha256."""
    text = frame.to_csv(index=False, float_format="%.6g", lineterminator="\n")
    # The %.6g format must not round any raw value (they have at most 4 significant digits).
    back = pd.read_csv(pd.io.common.StringIO(text))
    if not back.equals(frame.astype(back.dtypes.to_dict())):
        raise ValueError("extract: a value does not survive the CSV round trip")
    write_atomic(dest, text)
    digest = sha256_file(dest)
    write_atomic(dest.with_suffix(".csv.sha256"), f"{digest}  {dest.name}\n")
    return digest


def make_extract(source: Path = DEFAULT_SOURCE, dest: Path = EXTRACT,
                 race_dest: Path = RACE_EXTRACT) -> str:
    """Write the trimmed extract, the race extract of the same participants and their sha256;
    return the main extract's sha256."""
    frame = read_raw(source)
    digest = write_extract(frame, dest)
    write_extract(read_race(source, frame["SEQN"]), race_dest)
    return digest


def load_extract(path: Path = EXTRACT) -> pd.DataFrame:
    """The committed extract, refused if its sha256 is not the committed one."""
    recorded = path.with_suffix(".csv.sha256").read_text().split()[0]
    actual = sha256_file(path)
    if actual != recorded:
        raise ValueError(f"{path.name}: sha256 differs from {path.name}.sha256 "
                         "(the extract was changed; rerun with --extract)")
    return pd.read_csv(path)


def with_race(raw: pd.DataFrame, race_path: Path = RACE_EXTRACT) -> pd.DataFrame:
    """The extract's rows with RIDRETH3 from the (hash-checked) race extract, which must hold
    exactly the same participants in the same order."""
    return with_race_frame(raw, load_extract(race_path), race_path.name)


def with_race_frame(raw: pd.DataFrame, race_rows: pd.DataFrame,
                    name: str = RACE_EXTRACT.name) -> pd.DataFrame:
    """`raw` with the RIDRETH3 column of `race_rows` (same participants, same order)."""
    if (list(race_rows.columns) != RACE_COLUMNS
            or list(race_rows["SEQN"]) != list(raw["SEQN"])):
        raise ValueError(f"{name}: not the participants of the main extract")
    return raw.assign(RIDRETH3=race_rows["RIDRETH3"].to_numpy())


# ---------------------------------------------------------------------------------------------
# Derivation of the PREVENT inputs


def ckd_epi_2021(scr: float, age: float, female: bool) -> float:
    """Race-free CKD-EPI 2021 eGFR (mL/min/1.73m2) from serum creatinine in mg/dL:
    142 x min(Scr/k, 1)^a x max(Scr/k, 1)^-1.200 x 0.9938^age x 1.012 [if female],
    k = 0.7 (F) / 0.9 (M), a = -0.241 (F) / -0.302 (M)."""
    kappa, alpha = (0.7, -0.241) if female else (0.9, -0.302)
    ratio = scr / kappa
    value = 142.0 * min(ratio, 1.0) ** alpha * max(ratio, 1.0) ** -1.200 * 0.9938 ** age
    return value * 1.012 if female else value


def _code(value) -> int | None:
    """A questionnaire answer as an int; None when blank."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return int(round(float(value)))


def _measure(value) -> float | None:
    """A measurement; None when blank or 0 (0 is no measurement)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    value = float(value)
    return None if abs(value) < TINY else value


def yes_no(answer: int | None) -> int | None:
    """1 = yes -> 1, 2 = no -> 0; blank, refused, don't know -> None (missing)."""
    return None if answer is None else {YES: 1, NO: 0}.get(answer)


def gated(answer: int | None, gates: list[int | None]) -> int | None:
    """A yes/no item asked only when one of the earlier `gates` was answered yes: its own
    answer when it has one; 0 when it is blank because every gate was answered no; missing when
    it is blank and a gate is itself unknown (blank, refused, don't know), or when it was asked
    but refused / not known."""
    if answer is not None:
        return yes_no(answer)
    if any(g == YES for g in gates):
        return None  # should have been asked: a blank here is a missing answer
    if all(g == NO for g in gates):
        return 0
    return None


def systolic(row: pd.Series) -> float | None:
    """Mean of the available systolic readings (0 and blank are not readings)."""
    readings = [r for r in (_measure(row[c]) for c in SBP_READINGS) if r is not None]
    return sum(readings) / len(readings) if readings else None


def cvd_status(row: pd.Series) -> str | None:
    """KNOWN_CVD, CVD_UNKNOWN, or None (every item answered no)."""
    answers = [_code(row[c]) for c in CVD_ITEMS]
    if any(a == YES for a in answers):
        return KNOWN_CVD
    if any(a != NO for a in answers):
        return CVD_UNKNOWN
    return None


def race(code: int | None) -> str | None:
    """RIDRETH3 as the PCE race: 4 -> black, 3 -> white, any other code -> other; blank or
    not read -> None (RIDRETH3 is never blank in 2013-2014)."""
    if code is None:
        return None
    return {4: "black", 3: "white"}.get(code, "other")


def patient_inputs(row: pd.Series) -> dict[str, Any]:
    """Every PREVENT and PCE input of one participant; None where it is missing."""
    age = _code(row["RIDAGEYR"])
    sex_code = _code(row["RIAGENDR"])
    sex = None if sex_code is None else {1: "male", 2: "female"}.get(sex_code)
    scr = _measure(row["LBXSCR"])
    egfr = None
    if scr is not None and sex is not None and age is not None:
        egfr = ckd_epi_2021(scr, age, sex == "female")
    diq = _code(row["DIQ010"])
    dm = 1 if diq == 1 else 0 if diq in (2, 3) else None
    smq020, smq040 = _code(row["SMQ020"]), _code(row["SMQ040"])
    smoking: int | None
    if smq020 == NO:
        smoking = 0
    elif smq020 == YES:
        smoking = 1 if smq040 in (1, 2) else 0 if smq040 == 3 else None
    else:
        smoking = None
    bpq040a = gated(_code(row["BPQ040A"]), [_code(row["BPQ020"])])
    told_bp = None if bpq040a is None else (YES if bpq040a == 1 else NO)
    bp_tx = gated(_code(row["BPQ050A"]), [told_bp])
    bpq090d = gated(_code(row["BPQ090D"]), [_code(row["BPQ080"]), _code(row["BPQ060"])])
    told_statin = None if bpq090d is None else (YES if bpq090d == 1 else NO)
    statin = gated(_code(row["BPQ100D"]), [told_statin])
    return {
        "age": age, "sex": sex, "race": race(_code(row.get("RIDRETH3"))),
        "sbp": systolic(row), "bp_tx": bp_tx,
        "total_c": _measure(row["LBXTC"]), "hdl_c": _measure(row["LBDHDD"]),
        "statin": statin, "dm": dm, "smoking": smoking, "egfr": egfr,
    }


@dataclass
class Cohort:
    """The eligible in-range patients and how every other participant left the cohort.

    `excluded` counts each excluded participant once, under the first reason that applies
    (known CVD, CVD history unknown, the first missing input, out of range), so
    len(patients) + sum(excluded.values()) == total. `missing_any` and `out_of_range` count
    per input and may count a participant under several inputs."""
    total: int
    patients: list[dict] = field(default_factory=list)
    equation: Path = EQUATION
    ages: tuple[int, int] = (MIN_AGE, MAX_AGE)
    excluded: dict[str, int] = field(default_factory=dict)
    missing_any: dict[str, int] = field(default_factory=dict)
    out_of_range: dict[str, int] = field(default_factory=dict)

    def check(self) -> None:
        counted = len(self.patients) + sum(self.excluded.values())
        if counted != self.total:
            raise AssertionError(f"cohort counts: {counted} accounted for, {self.total} read")


def build_cohort(raw: pd.DataFrame, equation_path: Path = EQUATION) -> Cohort:
    """Apply the definitions above to the extract's rows, for the equation at
    `equation_path` (its inputs, ranges and ages); each patient holds that equation's inputs."""
    names = input_names(equation_path)
    ranges = input_ranges(equation_path)
    lo, hi = age_range(equation_path)
    raw = raw[(raw["RIDAGEYR"] >= lo) & (raw["RIDAGEYR"] <= hi)]
    cohort = Cohort(total=len(raw), equation=equation_path, ages=(lo, hi))
    excluded = {KNOWN_CVD: 0, CVD_UNKNOWN: 0}
    excluded.update({f"missing {n}": 0 for n in names})
    excluded[OUT_OF_RANGE] = 0
    missing_any = {n: 0 for n in names}
    out_of_range = {n: 0 for n in ranges}
    for _, row in raw.iterrows():
        status = cvd_status(row)
        if status is not None:
            excluded[status] += 1
            continue
        inputs = patient_inputs(row)
        missing = [n for n in names if inputs[n] is None]
        for n in missing:
            missing_any[n] += 1
        if missing:
            excluded[f"missing {missing[0]}"] += 1
            continue
        outside = [n for n, (lo, hi) in ranges.items() if not lo <= inputs[n] <= hi]
        for n in outside:
            out_of_range[n] += 1
        if outside:
            excluded[OUT_OF_RANGE] += 1
            continue
        cohort.patients.append({n: inputs[n] for n in names})
    cohort.excluded, cohort.missing_any, cohort.out_of_range = excluded, missing_any, out_of_range
    cohort.check()
    return cohort


def load_cohort(path: Path = EXTRACT, equation_path: Path = EQUATION,
                race_path: Path = RACE_EXTRACT) -> Cohort:
    """The cohort of the committed (hash-checked) extract for the equation at `equation_path`
    (PREVENT by default); an equation with a `race` input also reads the race extract."""
    raw = load_extract(path)
    if "race" in input_names(equation_path):
        raw = with_race(raw, race_path)
    return build_cohort(raw, equation_path)


def summary(cohort: Cohort) -> str:
    """Markdown table of the cohort's counts (aggregates only)."""
    lines = ["| | participants |", "|---|---:|",
             f"| aged {cohort.ages[0]}-{cohort.ages[1]} (extract rows) | {cohort.total} |"]
    lines += [f"| excluded: {reason} | {n} |" for reason, n in cohort.excluded.items() if n]
    lines.append(f"| **eligible, every input in range** | **{len(cohort.patients)}** |")
    lines += ["", "Inputs missing (a participant may miss several; among those without known "
              "or unknown CVD history):", "", "| input | missing |", "|---|---:|"]
    lines += [f"| {n} | {k} |" for n, k in cohort.missing_any.items() if k]
    lines += ["", "Inputs out of the published range (complete participants; a participant "
              "may be out on several; the product refuses these rows):", "",
              "| input | range | out of range |", "|---|---|---:|"]
    ranges = input_ranges(cohort.equation)
    lines += [f"| {n} | {ranges[n][0]:g}-{ranges[n][1]:g} | {k} |"
              for n, k in cohort.out_of_range.items()]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--extract", action="store_true",
                        help="rewrite the trimmed extract from the raw NHANES files")
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE)
    parser.add_argument("--equation", type=Path, default=EQUATION,
                        help="the equation declaration whose cohort to summarise")
    args = parser.parse_args()
    if args.extract:
        digest = make_extract(args.source)
        print(f"{digest}  {EXTRACT.relative_to(ROOT)}")
    print(summary(load_cohort(equation_path=args.equation)))


if __name__ == "__main__":
    main()
