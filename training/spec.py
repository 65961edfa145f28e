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
    "demographic": ["SEQN", "RIDAGEYR", "RIAGENDR", "RIDRETH3", "INDFMPIR", "WTMEC2YR"],
    "examination": ["SEQN", "BPXSY1", "BPXSY2", "BPXSY3", "BPXDI1", "BPXDI2", "BPXDI3",
                    "BMXBMI", "BMXWAIST"],
    "labs": ["SEQN", "LBXTC", "LBDHDD", "LBXSCR", "LBXGH"],
    "questionnaire": ["SEQN", "BPQ020", "BPQ080", "SMQ020", "SMQ040", "DIQ010", "CDQ001",
                      "CDQ010", "HUQ010", "MCQ300A", *LABEL_ITEMS],
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
    kind: str  # "continuous", "binary" or "ordinal" (whole-number answers, labelled below)
    plausible: tuple[float, float]
    description: str
    #: For an ordinal item: the label of each answer, from plausible[0] upwards.
    answers: tuple[str, ...] = ()


CANDIDATES: dict[str, FeatureSpec] = {s.name: s for s in [
    FeatureSpec("age", "years", "continuous", (18.0, 120.0),
                "Age at screening (NHANES top-codes at 80)"),
    FeatureSpec("told_high_bp", "yes/no", "binary", (0, 1),
                "Ever told by a doctor: high blood pressure"),
    FeatureSpec("systolic_bp", "mmHg", "continuous", (60.0, 260.0),
                "Systolic blood pressure, mean of readings"),
    FeatureSpec("smoked_100_cigarettes", "yes/no", "binary", (0, 1),
                "Smoked at least 100 cigarettes in life"),
    FeatureSpec("hdl_cholesterol", "mg/dL", "continuous", (5.0, 200.0), "Direct HDL cholesterol"),
    FeatureSpec("serum_creatinine", "mg/dL", "continuous", (0.1, 20.0), "Serum creatinine"),
    FeatureSpec("waist_circumference", "cm", "continuous", (40.0, 200.0), "Waist circumference"),
    FeatureSpec("told_diabetes", "yes/no", "binary", (0, 1),
                "Ever told by a doctor: diabetes (borderline = no)"),
    FeatureSpec("hba1c", "%", "continuous", (3.0, 20.0), "Glycohemoglobin (HbA1c)"),
    FeatureSpec("male", "yes/no", "binary", (0, 1), "Sex is male"),
    FeatureSpec("total_cholesterol", "mg/dL", "continuous", (50.0, 600.0), "Total cholesterol"),
    FeatureSpec("bmi", "kg/m2", "continuous", (10.0, 90.0), "Body-mass index"),
    FeatureSpec("diastolic_bp", "mmHg", "continuous", (30.0, 160.0),
                "Diastolic blood pressure, mean of readings"),
    FeatureSpec("told_high_cholesterol", "yes/no", "binary", (0, 1),
                "Ever told by a doctor: high cholesterol"),
    FeatureSpec("current_smoker", "yes/no", "binary", (0, 1),
                "Smokes cigarettes now (every day or some days)"),
    FeatureSpec("family_history_mi", "yes/no", "binary", (0, 1),
                "A parent or sibling had a heart attack or angina before age 50"),
    FeatureSpec("income_poverty_ratio", "ratio", "continuous", (0.0, 5.0),
                "Family income / federal poverty guideline (5 = 5 or more)"),
    # Symptom and self-rated-health items: they partly reflect an existing diagnosis (see the
    # model card); NHANES asks the chest-pain items only at age >= 40.
    FeatureSpec("chest_pain_ever", "yes/no", "binary", (0, 1),
                "Ever had any pain or discomfort in the chest (counts from age 40)"),
    FeatureSpec("short_of_breath_on_hill", "yes/no", "binary", (0, 1),
                "Short of breath hurrying on the level or up a slight hill (counts from age 40)"),
    # HUQ010's "excellent" and "very good" are one answer here: 4 answers fit a 2-bit code
    # exactly (one encrypted digit), and the merge does not cost CV AUC (+0.0015 on train).
    FeatureSpec("general_health", "answer 1-4", "ordinal", (1.0, 4.0),
                "Self-rated general health (1 excellent or very good, 2 good, 3 fair, 4 poor)",
                ("excellent or very good", "good", "fair", "poor")),
]}

#: The raw NHANES variables each candidate is made from (any one of a list suffices).
SOURCES: dict[str, tuple[str, ...]] = {
    "age": ("RIDAGEYR",), "male": ("RIAGENDR",), "told_high_bp": ("BPQ020",),
    "systolic_bp": ("BPXSY1", "BPXOSY1"), "diastolic_bp": ("BPXDI1", "BPXODI1"),
    "smoked_100_cigarettes": ("SMQ020",), "current_smoker": ("SMQ040",),
    "hdl_cholesterol": ("LBDHDD",), "serum_creatinine": ("LBXSCR",),
    "waist_circumference": ("BMXWAIST",), "bmi": ("BMXBMI",), "told_diabetes": ("DIQ010",),
    "hba1c": ("LBXGH",), "total_cholesterol": ("LBXTC",), "told_high_cholesterol": ("BPQ080",),
    "family_history_mi": ("MCQ300A",), "income_poverty_ratio": ("INDFMPIR",),
    "chest_pain_ever": ("CDQ001",), "short_of_breath_on_hill": ("CDQ010",),
    "general_health": ("HUQ010",),
}


def features_without_data(raw: pd.DataFrame, features: list[str]) -> list[str]:
    """Features none of whose source variables has a single value in `raw`."""
    return [f for f in features
            if not any(c in raw.columns and raw[c].notna().any() for c in SOURCES[f])]


#: Items that describe symptoms or self-rated health rather than a measured risk factor.
SYMPTOM_FEATURES = ("chest_pain_ever", "short_of_breath_on_hill", "general_health")

#: Items NHANES asks only from this age; younger participants are recorded as "no" (not asked).
ASKED_FROM_AGE_40 = ("chest_pain_ever", "short_of_breath_on_hill")

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


#: Variables other cycles use instead of (or besides) 2013-2014's: a fourth systolic reading
#: (taken when earlier ones were disturbed), the oscillometric device's readings (2017-2018
#: pilot, the only method from 2021), and the pre-pandemic file's examination weight.
OTHER_CYCLE_COLUMNS = ["BPXSY4", "BPXDI4", "BPXOSY1", "BPXOSY2", "BPXOSY3", "BPXODI1",
                       "BPXODI2", "BPXODI3", "WTMECPRP"]


def wanted_columns() -> set[str]:
    """Every raw variable Pulsecure reads from a cycle."""
    return {c for cols in COLUMNS.values() for c in cols} | set(OTHER_CYCLE_COLUMNS)


def _read_table(path: Path) -> pd.DataFrame:
    """One file of a cycle: the CDC's SAS transport (.XPT/.xpt) or a CSV with the same names."""
    if path.suffix.lower() == ".xpt":
        return pd.read_sas(path, format="xport")
    return pd.read_csv(path, low_memory=False)


def read_cycle_files(directory: Path) -> pd.DataFrame:
    """Every XPT or CSV file in `directory` (any cycle suffix: DEMO_J.XPT, BPX_I.xpt,
    DEMO.csv ...), reduced to the variables Pulsecure uses and joined on SEQN."""
    wanted = wanted_columns()
    files = sorted(p for p in directory.iterdir()
                   if p.is_file() and p.suffix.lower() in (".xpt", ".csv"))
    merged = None
    for path in files:
        frame = _read_table(path)
        cols = [c for c in frame.columns if c in wanted]
        if "SEQN" not in cols or len(cols) == 1:
            continue
        part = frame[cols].drop_duplicates("SEQN")
        if merged is not None:
            part = part[[c for c in cols if c == "SEQN" or c not in merged.columns]]
            if len(part.columns) == 1:
                continue
        merged = part if merged is None else merged.merge(part, on="SEQN", how="outer")
    if merged is None:
        raise FileNotFoundError("no XPT or CSV file with NHANES variables (SEQN ...) "
                                f"in {directory}")
    return merged


def load_merged(directory: Path) -> pd.DataFrame:
    """A cycle's raw variables, one row per participant. Variables a cycle lacks are NaN
    (see `absent_variables`)."""
    named = [directory / f"{name}.csv" for name in COLUMNS]
    if all(p.exists() for p in named):
        # The 2013-2014 layout in ../shared: four CSVs named by component.
        out = None
        for path in named:
            part = pd.read_csv(path, usecols=lambda c: c in wanted_columns(), low_memory=False)
            out = part if out is None else out.merge(part, on="SEQN", how="left")
    else:
        out = read_cycle_files(directory)
    # `out` is a frame here (`named` is never empty), which mypy cannot see; an assert would
    # change this module's code hash (see training.train.code_sha256).
    out.attrs["absent"] = sorted(wanted_columns() - set(out.columns))  # type: ignore[union-attr]
    for col in wanted_columns():
        if col not in out.columns:  # type: ignore[union-attr]
            out[col] = np.nan  # type: ignore[index]
    return out


def absent_variables(raw: pd.DataFrame) -> list[str]:
    """The raw variables the cycle's files did not contain."""
    return list(raw.attrs.get("absent", []))


def _systolic_and_diastolic(frame: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """Mean of the valid readings: the auscultatory readings 1-4 when the cycle has them,
    else the oscillometric device's readings 1-3 (2021 onwards; no conversion applied)."""
    systolic = _mean_reading(frame, ["BPXSY1", "BPXSY2", "BPXSY3", "BPXSY4"])
    diastolic = _mean_reading(frame, ["BPXDI1", "BPXDI2", "BPXDI3", "BPXDI4"])
    oscillometric_sys = _mean_reading(frame, ["BPXOSY1", "BPXOSY2", "BPXOSY3"])
    oscillometric_dia = _mean_reading(frame, ["BPXODI1", "BPXODI2", "BPXODI3"])
    return systolic.fillna(oscillometric_sys), diastolic.fillna(oscillometric_dia)


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
    systolic, diastolic = _systolic_and_diastolic(frame)
    out["systolic_bp"] = systolic
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
    out["diastolic_bp"] = diastolic
    out["told_high_cholesterol"] = _yes_no(frame["BPQ080"])
    smoker = pd.Series(np.nan, index=frame.index)
    smoker[frame["SMQ040"].isin([1, 2])] = 1.0
    smoker[(frame["SMQ040"] == 3) | (frame["SMQ020"] == NO)] = 0.0
    out["current_smoker"] = smoker
    out["family_history_mi"] = _yes_no(frame["MCQ300A"])
    out["income_poverty_ratio"] = frame["INDFMPIR"].astype(float)
    for name, item in (("chest_pain_ever", "CDQ001"), ("short_of_breath_on_hill", "CDQ010")):
        answer = _yes_no(frame[item])
        answer[frame["RIDAGEYR"] < 40] = 0.0
        out[name] = answer
    out["general_health"] = frame["HUQ010"].map({1: 1.0, 2: 1.0, 3: 2.0, 4: 3.0, 5: 4.0})
    out["exam_weight"] = frame["WTMEC2YR"].fillna(frame["WTMECPRP"]).astype(float)
    out["race_ethnicity"] = frame["RIDRETH3"].astype(float)
    out = out[out["label"].notna()].reset_index(drop=True)
    out["label"] = out["label"].astype(int)
    return out
