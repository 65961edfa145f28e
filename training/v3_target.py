"""The target of cvd-lr v3 and the lab-free inputs, built from a cycle's raw NHANES variables.

Question: in adults aged 30-79 without known cardiovascular disease, is the PREVENT base
10-year total-CVD risk >= 7.5 % — decided without a blood draw?

The label is computed with the exact PREVENT equation (`training.equation_eval.probability`
on `models/equations/prevent-cvd-10y.json`) from the cycle's own measurements, with the
variable rules of `training.prevent_cohort` (issue 32):

- population: RIDAGEYR 30-79; known CVD = any of MCQ160B/C/D/E/F == 1 (heart failure
  included) -> outside; an item blank / 7 / 9 with none == 1 -> CVD history unknown, outside;
- dm = DIQ010 == 1 (borderline = no); smoking = SMQ040 in {1, 2}; bp_tx = BPQ050A == 1;
  statin = BPQ100D == 1 (skip chains as in `prevent_cohort.gated`); SBP = mean of the
  available BPXSY1-4 readings (0 is not a reading), the oscillometric BPXOSY1-3 where a cycle
  has no auscultatory reading; total cholesterol LBXTC; HDL LBDHDD; eGFR = CKD-EPI 2021 from
  LBXSCR, age and sex;
- a participant missing a label variable is outside the evaluated population (counted under
  the first missing variable, not imputed); one whose label inputs are complete but one lies
  outside PREVENT's published range (SBP 90-180, TC 130-320, HDL 20-100, eGFR 15-140) is
  outside too (counted per input, not clamped): PREVENT is not defined there and the product
  refuses such rows.

The model's inputs are lab-free (`LAB_FREE_FEATURES`); `LAB_VARIABLES` lists the raw lab
codes that must never reach a v3 feature (a test checks both).

`TARGET` is what model.json records, so every tool reads the label rule from the model.
Messages name fields and reasons, never a participant's value.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from training import equation_eval
from training import prevent_cohort as P

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
EQUATION_PATH = ROOT / "models" / "equations" / "prevent-cvd-10y.json"
RISK_THRESHOLD = 0.075
TINY = P.TINY

#: Raw lab variables (blood draw): never a v3 input.
LAB_VARIABLES = ("LBXTC", "LBDHDD", "LBXSCR", "LBXGH", "LBXGLU", "LBXSGL", "LBDLDL", "LBXTR")
#: Feature names that denote a lab value, in any model.
LAB_FEATURES = ("total_cholesterol", "hdl_cholesterol", "serum_creatinine", "hba1c", "egfr",
                "glucose", "ldl_cholesterol", "triglycerides")

OSCILLOMETRIC = ["BPXOSY1", "BPXOSY2", "BPXOSY3"]

#: Every raw variable v3 reads from a cycle (label, population, inputs, weights, subgroups).
RAW_VARIABLES = sorted(set(
    P.EXTRACT_COLUMNS + OSCILLOMETRIC
    + ["RIDRETH3", "WTMEC2YR", "WTMECPRP", "BMXBMI", "BMXWAIST"]))


@dataclass(frozen=True)
class Feature:
    """One lab-free candidate input: model.json name, unit, kind, validation range, source."""

    name: str
    unit: str
    kind: str  # "continuous" or "binary"
    plausible: tuple[float, float]
    description: str
    sources: tuple[str, ...]
    #: Expected direction of the effect on risk (+1, -1, 0 = left free).
    sign: int


LAB_FREE_FEATURES: dict[str, Feature] = {f.name: f for f in [
    Feature("age", "years", "continuous", (30.0, 79.0), "Age at screening (30-79)",
            ("RIDAGEYR",), +1),
    Feature("male", "yes/no", "binary", (0, 1), "Sex is male", ("RIAGENDR",), +1),
    Feature("systolic_bp", "mmHg", "continuous", (60.0, 260.0),
            "Systolic blood pressure, mean of the readings taken",
            ("BPXSY1", "BPXSY2", "BPXSY3", "BPXSY4", *OSCILLOMETRIC), +1),
    Feature("bp_medication", "yes/no", "binary", (0, 1),
            "Now taking prescribed medicine for high blood pressure",
            ("BPQ020", "BPQ040A", "BPQ050A"), +1),
    Feature("told_high_bp", "yes/no", "binary", (0, 1),
            "Ever told by a doctor: high blood pressure", ("BPQ020",), +1),
    Feature("told_diabetes", "yes/no", "binary", (0, 1),
            "Ever told by a doctor: diabetes (borderline = no)", ("DIQ010",), +1),
    Feature("current_smoker", "yes/no", "binary", (0, 1),
            "Smokes cigarettes now (every day or some days)", ("SMQ020", "SMQ040"), +1),
    Feature("bmi", "kg/m2", "continuous", (10.0, 90.0), "Body-mass index", ("BMXBMI",), 0),
    Feature("waist_circumference", "cm", "continuous", (40.0, 200.0), "Waist circumference",
            ("BMXWAIST",), 0),
    Feature("told_high_cholesterol", "yes/no", "binary", (0, 1),
            "Ever told by a doctor: high cholesterol", ("BPQ080",), +1),
    # Statin use marks treated high cholesterol: as a lab-free input it stands for the lipid
    # level the pre-screen cannot see, so its direction is left to the data.
    Feature("statin", "yes/no", "binary", (0, 1),
            "Now taking prescribed medicine for high cholesterol",
            ("BPQ080", "BPQ060", "BPQ090D", "BPQ100D"), 0),
]}
# BMI and waist are left free: PREVENT's base equations do not contain them (any effect on the
# label goes through SBP, diabetes and lipids), so no direction is established for this label.


def equation() -> dict:
    return json.loads(EQUATION_PATH.read_text())


def target_record() -> dict:
    """The `target` object of model.json: population, label rule, PREVENT version."""
    return {
        "population": {
            "rule": "adults aged 30-79 without known cardiovascular disease",
            "age_min": P.MIN_AGE, "age_max": P.MAX_AGE,
            "known_cvd_items": list(P.CVD_ITEMS),
            "known_cvd": "any item = 1 (heart failure, coronary heart disease, angina, heart "
                         "attack, stroke) -> outside; none = 1 but one blank/7/9 -> outside "
                         "(history unknown)",
        },
        "label": {
            "kind": "prevent_risk_at_least",
            "rule": "PREVENT base 10-year total CVD risk >= 7.5 %",
            "threshold": RISK_THRESHOLD,
            "equation": "prevent-cvd-10y",
            "equation_file": "models/equations/prevent-cvd-10y.json",
            "variables": {
                "sex": "RIAGENDR (1 male, 2 female)",
                "sbp": "mean of available BPXSY1-4 (0 is not a reading); BPXOSY1-3 where a "
                       "cycle has no auscultatory reading",
                "bp_tx": "BPQ050A = 1 (blank after BPQ020/BPQ040A = 2 -> 0)",
                "total_c": "LBXTC", "hdl_c": "LBDHDD",
                "statin": "BPQ100D = 1 (blank after BPQ080/BPQ060/BPQ090D = 2 -> 0)",
                "dm": "DIQ010 = 1 (3 borderline = 0)",
                "smoking": "SMQ040 in {1, 2} (SMQ020 = 2 -> 0)",
                "egfr": "CKD-EPI 2021 from LBXSCR, age, sex",
            },
            "missing": "outside the evaluated population (counted per variable, not imputed)",
            "out_of_range": "outside the evaluated population (counted per input, not "
                            "clamped): PREVENT is not defined there",
            "xpt_zero": "values below 1e-10 are 0 (SAS transport zero); a 0 measurement is "
                        "missing",
        },
        "prevent_version": "AHA PREVENT base model, 10-year total CVD (Khan et al., "
                           "Circulation 2024), as declared in models/equations/"
                           "prevent-cvd-10y.json (prevent-cvd-10y v1)",
    }


def zero_tiny(frame: pd.DataFrame) -> pd.DataFrame:
    """SAS transport's zero comes back as a tiny float (5.4e-79): read it as 0."""
    out = frame.copy()
    numeric = [c for c in out.columns if c != "SEQN" and pd.api.types.is_numeric_dtype(out[c])]
    out[numeric] = out[numeric].mask(out[numeric].abs() < TINY, 0.0)
    return out


def _sbp(row: pd.Series) -> float | None:
    value = P.systolic(row)
    if value is not None:
        return value
    readings = [r for r in (P._measure(row[c]) for c in OSCILLOMETRIC) if r is not None]
    return sum(readings) / len(readings) if readings else None


def _measure(value) -> float:
    m = P._measure(value)
    return float("nan") if m is None else m


def _flag(value) -> float:
    return float("nan") if value is None else float(value)


@dataclass
class TargetCohort:
    """The evaluated population (one row per person: SEQN, label, risk, lab-free features,
    weight, race/ethnicity) and how everyone else in the age range left it."""

    frame: pd.DataFrame
    total: int
    excluded: dict[str, int]
    missing_any: dict[str, int]
    out_of_range: dict[str, int]

    def check(self) -> None:
        if len(self.frame) + sum(self.excluded.values()) != self.total:
            raise AssertionError("target cohort counts do not add up")


def build_target_cohort(raw: pd.DataFrame) -> TargetCohort:
    """Apply the target's population and label rules to a cycle's raw variables."""
    raw = raw.copy()
    for col in RAW_VARIABLES:
        if col not in raw.columns:
            raw[col] = np.nan
    raw = zero_tiny(raw)
    eq = equation()
    names = P.input_names(EQUATION_PATH)
    ranges = P.input_ranges(EQUATION_PATH)
    raw = raw[(raw["RIDAGEYR"] >= P.MIN_AGE) & (raw["RIDAGEYR"] <= P.MAX_AGE)]
    excluded = {P.KNOWN_CVD: 0, P.CVD_UNKNOWN: 0}
    excluded.update({f"missing {n}": 0 for n in names})
    excluded[P.OUT_OF_RANGE] = 0
    missing_any = {n: 0 for n in names}
    out_of_range = {n: 0 for n in ranges}
    rows = []
    for _, row in raw.sort_values("SEQN").iterrows():
        status = P.cvd_status(row)
        if status is not None:
            excluded[status] += 1
            continue
        inputs = P.patient_inputs(row)
        inputs["sbp"] = _sbp(row)
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
            excluded[P.OUT_OF_RANGE] += 1
            continue
        risk = equation_eval.probability(eq, inputs)
        told_chol = P.yes_no(P._code(row["BPQ080"]))
        told_bp = P.yes_no(P._code(row["BPQ020"]))
        weight = row["WTMEC2YR"] if not pd.isna(row["WTMEC2YR"]) else row["WTMECPRP"]
        rows.append({
            "SEQN": int(row["SEQN"]), "label": int(risk >= RISK_THRESHOLD), "risk": risk,
            "age": float(inputs["age"]), "male": float(inputs["sex"] == "male"),
            "systolic_bp": float(inputs["sbp"]), "bp_medication": float(inputs["bp_tx"]),
            "told_high_bp": _flag(told_bp), "told_diabetes": float(inputs["dm"]),
            "current_smoker": float(inputs["smoking"]), "bmi": _measure(row["BMXBMI"]),
            "waist_circumference": _measure(row["BMXWAIST"]),
            "told_high_cholesterol": _flag(told_chol), "statin": float(inputs["statin"]),
            "exam_weight": float(weight) if not pd.isna(weight) else math.nan,
            "race_ethnicity": float(row["RIDRETH3"]) if not pd.isna(row["RIDRETH3"]) else math.nan,
        })
    columns = ["SEQN", "label", "risk", *LAB_FREE_FEATURES, "exam_weight", "race_ethnicity"]
    frame = pd.DataFrame(rows, columns=columns)
    cohort = TargetCohort(frame, len(raw), excluded, missing_any, out_of_range)
    cohort.check()
    return cohort


def training_raw() -> pd.DataFrame:
    """The committed, hash-checked extracts joined on SEQN: the PREVENT extract (label
    variables, 30-79) with BMI, waist, race/ethnicity and the exam weight from the v2 extract."""
    from training.train import load_extract as load_v2_extract

    prevent = P.load_extract()
    extra = load_v2_extract()[["SEQN", "RIDRETH3", "WTMEC2YR", "BMXBMI", "BMXWAIST"]]
    return prevent.merge(extra, on="SEQN", how="left")


def _read_table(path: Path) -> pd.DataFrame:
    if path.suffix.lower() == ".xpt":
        return pd.read_sas(path, format="xport")
    return pd.read_csv(path, low_memory=False)


def read_cycle(directory: Path, wanted: set[str]) -> pd.DataFrame:
    """A cycle's raw variables named in `wanted`, one row per participant, from every XPT or
    CSV file in `directory` (any cycle suffix and case, or the four-CSV 2013-2014 layout),
    joined on SEQN; XPT's tiny-float zeros read as 0; variables the files lack are NaN and
    listed in `attrs["absent"]`."""
    files = sorted(p for p in Path(directory).iterdir()
                   if p.is_file() and p.suffix.lower() in (".xpt", ".csv"))
    merged = None
    for path in files:
        frame = _read_table(path)
        cols = [c for c in frame.columns if c in wanted]
        if "SEQN" not in cols or len(cols) == 1:
            continue
        if frame["SEQN"].duplicated().any():
            raise ValueError(f"{path.name}: SEQN is not unique")
        part = frame[cols]
        if merged is not None:
            part = part[[c for c in cols if c == "SEQN" or c not in merged.columns]]
            if len(part.columns) == 1:
                continue
        merged = part if merged is None else merged.merge(part, on="SEQN", how="outer")
    if merged is None:
        raise FileNotFoundError("no XPT or CSV file with NHANES variables (SEQN ...) "
                                f"in {directory}")
    absent = sorted(set(wanted) - set(merged.columns))
    for col in absent:
        merged[col] = np.nan
    merged = zero_tiny(merged)
    merged.attrs["absent"] = absent
    return merged
