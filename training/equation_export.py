"""Write the schema-2 releases of the published equations and their golden vectors.

    python -m training.equation_export [--out models]

For each model (the PREVENT base models, version 2; the 2013 Pooled Cohort Equations,
version 1): `models/<id>/v<version>/model.json` (unsigned; `pulsecure model sign` adds
the `.minisig`) and `golden.json`: every published input -> output vector of the equation plus
seeded random valid patients and the corners of the input box, each with every intermediate
of the integer pipeline (the contract test between Python, the Rust reference engine and the
encrypted circuit) and the exact probability.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import random
from pathlib import Path
from typing import Any

from training import equation_eval as E
from training import equation_model as M
from training.equations import DEFAULT_OUT as EQUATIONS

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT.parent / "shared" / "data" / "risk-equations"
VERSION = 2  # the PREVENT releases' version
RANDOM_PATIENTS = 300
SEED = 20261206

RELEASES: dict[str, dict[str, Any]] = {
    "prevent-cvd-10y": {
        "description": "AHA PREVENT base model (Khan et al., Circulation 2024): 10-year risk of "
                       "total cardiovascular disease (ASCVD or heart failure) for adults 30-79 "
                       "without known cardiovascular disease. A screening aid, not a diagnosis.",
        "outcome": "total_cvd",
        "eligibility": {"age_input": "age", "min_age": 30, "max_age": 79,
                        "excludes_known_cvd": True},
    },
    "prevent-ascvd-10y": {
        "description": "AHA PREVENT base model (Khan et al., Circulation 2024): 10-year risk of "
                       "atherosclerotic cardiovascular disease (CHD or stroke) for adults 30-79 "
                       "without known cardiovascular disease. A screening aid, not a diagnosis.",
        "outcome": "ascvd",
        "eligibility": {"age_input": "age", "min_age": 30, "max_age": 79,
                        "excludes_known_cvd": True},
    },
    "pce-ascvd-10y": {
        "version": 1,
        "description": "2013 ACC/AHA Pooled Cohort Equations (Goff et al., Circulation 2014): "
                       "10-year risk of a first hard atherosclerotic cardiovascular event "
                       "(coronary death, non-fatal myocardial infarction, fatal or non-fatal "
                       "stroke) for adults 40-79 without known cardiovascular disease, with the "
                       "published sex- and race-specific equations (African American; white, also "
                       "used for other races). A screening aid, not a diagnosis.",
        "vectors": "pce",
        "eligibility": {"age_input": "age", "min_age": 40, "max_age": 79,
                        "excludes_known_cvd": True},
    },
}


def version(model_id: str) -> int:
    """The release number written for `model_id`."""
    return RELEASES[model_id].get("version", VERSION)


def folder(root: Path, model_id: str) -> Path:
    """Where a release's files go under `root` (models/<id>/v<version>)."""
    return root / model_id / f"v{version(model_id)}"


def random_patient(equation: dict, rng: random.Random, corner: bool) -> dict:
    """A valid patient: every number inside its published range (at an end when `corner`)."""
    patient: dict[str, float | str] = {}
    for spec in equation["inputs"]:
        kind = spec["kind"]
        if kind == "binary":
            patient[spec["name"]] = rng.randint(0, 1)
        elif "choice" in kind:
            patient[spec["name"]] = rng.choice(kind["choice"]["levels"])
        else:
            lo, hi = kind["number"]["min"], kind["number"]["max"]
            patient[spec["name"]] = (rng.choice([lo, hi]) if corner
                                     else round(rng.uniform(lo, hi), 2))
    return patient


def published_patients(model_id: str) -> list[tuple[str, dict, float]]:
    """(id, input, published probability) for every published vector of this model."""
    vectors = json.loads((SOURCE / "test_vectors.json").read_text())
    release = RELEASES[model_id]
    if release.get("vectors") == "pce":
        # The PCE vectors spell the African American race `aa`: the declaration's `black`.
        race = {"aa": "black"}
        return [(v["id"], {**v["input"], "race": race.get(v["input"]["race"], v["input"]["race"])},
                 v["expected"]) for v in vectors["pce"]]
    outcome = release["outcome"]
    found = []
    for v in vectors["prevent"]:
        if v["model"] == "base" and outcome in v.get("expected_10yr", {}):
            found.append((v["id"], v["input"], v["expected_10yr"][outcome]))
    return found


def golden(model: dict) -> dict:
    """Golden vectors: published ones first, then corners and seeded random patients."""
    equation = model["equation"]
    names = {spec["name"] for spec in equation["inputs"]}
    rng = random.Random(SEED)
    cases: list[tuple[str, dict, float | None]] = []
    for vid, given, expected in published_patients(model["model_id"]):
        patient = {k: v for k, v in given.items() if k in names}
        cases.append((vid, patient, expected))
    for k in range(RANDOM_PATIENTS):
        cases.append((f"random-{k}", random_patient(equation, rng, corner=k < 40), None))
    vectors = []
    for vid, patient, published in cases:
        out = M.run(model, patient)
        vectors.append({
            "id": vid,
            "input": patient,
            "published": published,
            "exact": E.probability(equation, patient),
            **out,
        })
    return {"model_id": model["model_id"], "version": model["version"], "vectors": vectors}


def write(path: Path, data: dict, one_line_each: str | None = None) -> str:
    """Atomic write; the list under `one_line_each` gets one compact line per element."""
    if one_line_each is None:
        text = json.dumps(data, indent=1) + "\n"
    else:
        head = {k: v for k, v in data.items() if k != one_line_each}
        lines = ",\n".join(json.dumps(x, separators=(",", ":")) for x in data[one_line_each])
        text = json.dumps(head)[:-1] + f', "{one_line_each}": [\n{lines}\n]}}\n'
        json.loads(text)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)
    return hashlib.sha256(text.encode()).hexdigest()


def build_all() -> dict[str, dict]:
    """Every release's model document."""
    models = {}
    for model_id, release in RELEASES.items():
        equation = json.loads((EQUATIONS / f"{model_id}.json").read_text())
        models[model_id] = M.build(equation, model_id, version(model_id),
                                   release["description"], release["eligibility"])
    return models


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "models")
    args = parser.parse_args()
    for model_id, model in build_all().items():
        where = folder(args.out, model_id)
        for name, data, lines in (("model.json", model, None),
                                  ("golden.json", golden(model), "vectors")):
            digest = write(where / name, data, lines)
            shown = where / name
            shown = shown.relative_to(ROOT) if shown.is_relative_to(ROOT) else shown
            print(f"{digest}  {shown}")


if __name__ == "__main__":
    main()
