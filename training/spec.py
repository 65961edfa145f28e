"""Cohort, label and candidate-feature definitions shared by training and external evaluation.

Everything that turns raw NHANES columns into model inputs lives here, so that
`training.train` and `training.evaluate` apply exactly the same definitions.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

# NHANES questionnaire codes: 1 = yes, 2 = no, 7 = refused, 9 = don't know (missing, not "no").
YES, NO = 1, 2

#: The four "ever told" items that define prevalent cardiovascular disease.
LABEL_ITEMS = ("MCQ160C", "MCQ160D", "MCQ160E", "MCQ160F")

#: Raw NHANES columns the project uses, per component file.
COLUMNS = {
    "demographic": ["SEQN", "RIDAGEYR", "RIAGENDR"],
    "examination": ["SEQN", "BPXSY1", "BPXSY2", "BPXSY3", "BPXDI1", "BPXDI2", "BPXDI3",
                    "BMXBMI", "BMXWAIST"],
    "labs": ["SEQN", "LBXTC", "LBDHDD", "LBXSCR", "LBXGH"],
    "questionnaire": ["SEQN", "BPQ020", "BPQ080", "SMQ020", "DIQ010", *LABEL_ITEMS],
}

MIN_AGE = 20


@dataclass(frozen=True)
class FeatureSpec:
    """One clinical input: its name in model.json, unit, plausible range and kind.

    `plausible` is the validation range (values outside are rejected as data-entry errors);
    the narrower clamp range used for quantization is fitted on training data.
    """

    name: str
    unit: str
    kind: str  # "continuous" or "binary"
    plausible: tuple[float, float]
    description: str


CANDIDATES: dict[str, FeatureSpec] = {s.name: s for s in [
    FeatureSpec("age", "years", "continuous", (18.0, 120.0), "Age at screening (NHANES top-codes at 80)"),
    FeatureSpec("told_high_bp", "yes/no", "binary", (0, 1), "Ever told by a doctor: high blood pressure"),
    FeatureSpec("systolic_bp", "mmHg", "continuous", (60.0, 260.0), "Systolic blood pressure, mean of readings"),
    FeatureSpec("smoked_100_cigarettes", "yes/no", "binary", (0, 1), "Smoked at least 100 cigarettes in life"),
    FeatureSpec("hdl_cholesterol", "mg/dL", "continuous", (5.0, 200.0), "Direct HDL cholesterol"),
    FeatureSpec("serum_creatinine", "mg/dL", "continuous", (0.1, 20.0), "Serum creatinine"),
    FeatureSpec("waist_circumference", "cm", "continuous", (40.0, 200.0), "Waist circumference"),
    FeatureSpec("told_diabetes", "yes/no", "binary", (0, 1), "Ever told by a doctor: diabetes (borderline = no)"),
    FeatureSpec("hba1c", "%", "continuous", (3.0, 20.0), "Glycohemoglobin (HbA1c)"),
    FeatureSpec("male", "yes/no", "binary", (0, 1), "Sex is male"),
    FeatureSpec("total_cholesterol", "mg/dL", "continuous", (50.0, 600.0), "Total cholesterol"),
    FeatureSpec("bmi", "kg/m2", "continuous", (10.0, 90.0), "Body-mass index"),
    FeatureSpec("diastolic_bp", "mmHg", "continuous", (30.0, 160.0), "Diastolic blood pressure, mean of readings"),
    FeatureSpec("told_high_cholesterol", "yes/no", "binary", (0, 1), "Ever told by a doctor: high cholesterol"),
]}

#: The starting feature set named by the product brief.
BASE_FEATURES = ["age", "told_high_bp", "systolic_bp", "smoked_100_cigarettes", "hdl_cholesterol",
                 "serum_creatinine", "waist_circumference", "told_diabetes", "hba1c"]


def _yes_no(series: pd.Series) -> pd.Series:
    """1 = yes -> 1.0, 2 = no -> 0.0, anything else (7, 9, blank) -> NaN."""
    out = pd.Series(np.nan, index=series.index)
    out[series == YES] = 1.0
    out[series == NO] = 0.0
    return out


def _mean_reading(frame: pd.DataFrame, cols: list[str]) -> pd.Series:
    """Mean of the available blood-pressure readings; 0 mmHg readings are invalid."""
    readings = frame[cols].where(frame[cols] > 0)
    return readings.mean(axis=1, skipna=True)


def label_from_items(frame: pd.DataFrame) -> pd.Series:
    """Prevalent CVD: any of MCQ160C/D/E/F = 1 -> 1; all four = 2 -> 0; otherwise missing."""
    items = frame[list(LABEL_ITEMS)]
    any_yes = (items == YES).any(axis=1)
    all_no = (items == NO).all(axis=1)
    label = pd.Series(np.nan, index=frame.index)
    label[all_no] = 0.0
    label[any_yes] = 1.0
    return label


def read_component(directory: Path, name: str) -> pd.DataFrame:
    """Read one NHANES component from `directory` as CSV (`name.csv`) or the CDC's XPT files."""
    csv_path = directory / f"{name}.csv"
    if csv_path.exists():
        return pd.read_csv(csv_path, usecols=lambda c: c in COLUMNS[name], low_memory=False)
    frames = [pd.read_sas(p, format="xport") for p in sorted(directory.glob("*.[xX][pP][tT]"))]
    wanted = set(COLUMNS[name])
    merged = None
    for frame in frames:
        cols = [c for c in frame.columns if c in wanted]
        if "SEQN" not in cols or len(cols) == 1:
            continue
        part = frame[cols]
        merged = part if merged is None else merged.merge(part, on="SEQN", how="outer",
                                                          suffixes=("", "_dup"))
    if merged is None:
        raise FileNotFoundError(f"no {name}.csv and no XPT file with its columns in {directory}")
    return merged


def load_merged(directory: Path) -> pd.DataFrame:
    """Join the four components on SEQN (participants without an exam keep NaN there)."""
    demo = read_component(directory, "demographic")
    out = demo
    for name in ("examination", "labs", "questionnaire"):
        out = out.merge(read_component(directory, name), on="SEQN", how="left")
    for col in [c for cols in COLUMNS.values() for c in cols]:
        if col not in out.columns:
            out[col] = np.nan
    return out


def build_cohort(raw: pd.DataFrame) -> pd.DataFrame:
    """Adults >= 20 with a known label; columns: SEQN, label, then every candidate feature.

    Features keep NaN where the value is missing; the imputation policy is fitted later on the
    training split only.
    """
    frame = raw[raw["RIDAGEYR"] >= MIN_AGE].copy()
    out = pd.DataFrame({"SEQN": frame["SEQN"].astype(int)})
    out["label"] = label_from_items(frame)
    out["age"] = frame["RIDAGEYR"].astype(float)
    out["told_high_bp"] = _yes_no(frame["BPQ020"])
    out["systolic_bp"] = _mean_reading(frame, ["BPXSY1", "BPXSY2", "BPXSY3"])
    out["smoked_100_cigarettes"] = _yes_no(frame["SMQ020"])
    out["hdl_cholesterol"] = frame["LBDHDD"].astype(float)
    out["serum_creatinine"] = frame["LBXSCR"].astype(float)
    out["waist_circumference"] = frame["BMXWAIST"].astype(float)
    diabetes = pd.Series(np.nan, index=frame.index)
    diabetes[frame["DIQ010"] == 1] = 1.0
    diabetes[frame["DIQ010"].isin([2, 3])] = 0.0  # borderline counts as "not told diabetes"
    out["told_diabetes"] = diabetes
    out["hba1c"] = frame["LBXGH"].astype(float)
    out["male"] = (frame["RIAGENDR"] == 1).astype(float)
    out["total_cholesterol"] = frame["LBXTC"].astype(float)
    out["bmi"] = frame["BMXBMI"].astype(float)
    out["diastolic_bp"] = _mean_reading(frame, ["BPXDI1", "BPXDI2", "BPXDI3"])
    out["told_high_cholesterol"] = _yes_no(frame["BPQ080"])
    out = out[out["label"].notna()].reset_index(drop=True)
    out["label"] = out["label"].astype(int)
    return out
