"""cvd-lr v3 (issue 32): the label is built exactly per the rules, no lab value can enter the
model, the evaluation prints every section and writes one score row per person, and (pipeline
marker) a retrain reproduces the committed release byte for byte."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from training import equation_eval
from training import screen_metrics as S
from training import v3_target as T

ROOT = Path(__file__).resolve().parents[2]
V3 = ROOT / "models" / "cvd-lr" / "v3"
MODEL = V3 / "model.json"
EQ = json.loads(T.EQUATION_PATH.read_text())

#: One participant in range, every label variable present (the baseline of the cases below).
BASE = {
    "SEQN": 1, "RIDAGEYR": 55, "RIAGENDR": 1, "RIDRETH3": 3, "WTMEC2YR": 1000.0,
    "BPXSY1": 130, "BPXSY2": 134, "BPXSY3": np.nan, "BPXSY4": np.nan,
    "LBXTC": 200, "LBDHDD": 45, "LBXSCR": 0.9,
    "MCQ160B": 2, "MCQ160C": 2, "MCQ160D": 2, "MCQ160E": 2, "MCQ160F": 2,
    "DIQ010": 2, "SMQ020": 1, "SMQ040": 3, "BPQ020": 1, "BPQ040A": 1, "BPQ050A": 1,
    "BPQ080": 2, "BPQ060": 2, "BPQ090D": np.nan, "BPQ100D": np.nan,
    "BMXBMI": 27.0, "BMXWAIST": 95.0,
}


def ckd_epi_by_hand(scr, age, female):
    k, a = (0.7, -0.241) if female else (0.9, -0.302)
    v = 142 * min(scr / k, 1) ** a * max(scr / k, 1) ** -1.2 * 0.9938 ** age
    return v * 1.012 if female else v


def cohort_of(*changes: dict) -> T.TargetCohort:
    rows = [{**BASE, "SEQN": i + 1, **c} for i, c in enumerate(changes)]
    return T.build_target_cohort(pd.DataFrame(rows))


def test_label_is_prevent_at_7_5_percent_from_the_raw_codes():
    cohort = cohort_of({})
    (row,) = cohort.frame.to_dict("records")
    inputs = {"age": 55, "sex": "male", "sbp": 132.0, "bp_tx": 1, "total_c": 200.0,
              "hdl_c": 45.0, "statin": 0, "dm": 0, "smoking": 0,
              "egfr": ckd_epi_by_hand(0.9, 55, False)}
    risk = equation_eval.probability(EQ, inputs)
    assert row["risk"] == pytest.approx(risk, abs=1e-12)
    assert row["label"] == int(risk >= 0.075)
    # Lab-free inputs as the model sees them.
    assert (row["systolic_bp"], row["bp_medication"], row["told_diabetes"],
            row["current_smoker"], row["statin"], row["male"]) == (132.0, 1, 0, 0, 0, 1)


def test_label_threshold_is_inclusive_and_follows_the_risk():
    # Vary age: the label must switch exactly where the exact risk crosses 0.075.
    cohort = cohort_of(*({"RIDAGEYR": a} for a in range(30, 80)))
    f = cohort.frame
    assert ((f["risk"] >= 0.075).astype(int) == f["label"]).all()
    assert f["label"].min() == 0 and f["label"].max() == 1


@pytest.mark.parametrize("change, reason", [
    ({"MCQ160B": 1}, "known CVD"),             # heart failure is known CVD
    ({"MCQ160F": 1}, "known CVD"),
    ({"MCQ160C": 9}, "CVD history unknown"),
    ({"MCQ160E": np.nan}, "CVD history unknown"),
    ({"LBXTC": np.nan}, "missing total_c"),
    ({"LBDHDD": 5.397605346934028e-79}, "missing hdl_c"),  # XPT zero: no measurement
    ({"LBXSCR": np.nan}, "missing egfr"),
    ({"BPXSY1": np.nan, "BPXSY2": 0}, "missing sbp"),
    ({"DIQ010": 9}, "missing dm"),
    ({"SMQ020": 1, "SMQ040": np.nan}, "missing smoking"),
    ({"BPQ020": 9, "BPQ040A": np.nan, "BPQ050A": np.nan}, "missing bp_tx"),
    ({"BPXSY1": 185, "BPXSY2": 185}, "out of range"),
    ({"LBXTC": 330}, "out of range"),
    ({"LBDHDD": 15}, "out of range"),
])
def test_people_outside_the_population_are_counted_not_imputed(change, reason):
    cohort = cohort_of(change)
    assert len(cohort.frame) == 0
    assert cohort.excluded[reason] == 1


def test_ages_outside_30_79_are_not_in_the_population():
    cohort = cohort_of({"RIDAGEYR": 29}, {"RIDAGEYR": 80}, {"RIDAGEYR": 30}, {"RIDAGEYR": 79})
    assert cohort.total == 2 and len(cohort.frame) == 2


@pytest.mark.parametrize("change, field, value", [
    ({"DIQ010": 3}, "told_diabetes", 0),        # borderline = no
    ({"DIQ010": 1}, "told_diabetes", 1),
    ({"SMQ040": 1}, "current_smoker", 1),
    ({"SMQ040": 2}, "current_smoker", 1),
    ({"SMQ020": 2, "SMQ040": np.nan}, "current_smoker", 0),
    ({"BPQ020": 2, "BPQ040A": np.nan, "BPQ050A": np.nan}, "bp_medication", 0),  # skip chain
    ({"BPQ080": 1, "BPQ090D": 1, "BPQ100D": 1}, "statin", 1),
    ({"BPXSY3": 5.397605346934028e-79}, "systolic_bp", 132.0),  # tiny zero is no reading
    ({"BPXSY1": np.nan, "BPXSY2": np.nan, "BPXOSY1": 140, "BPXOSY2": 144}, "systolic_bp", 142.0),
])
def test_variable_rules(change, field, value):
    (row,) = cohort_of(change).frame.to_dict("records")
    assert row[field] == value


def test_committed_extract_gives_the_documented_population():
    cohort = T.build_target_cohort(T.training_raw())
    assert (cohort.total, len(cohort.frame), int(cohort.frame["label"].sum())) == (3588, 2660, 784)
    assert cohort.excluded["known CVD"] == 359 and cohort.excluded["out of range"] == 163


def test_committed_model_records_its_target():
    doc = json.loads(MODEL.read_text())
    assert doc["target"] == T.target_record()
    assert doc["schema_version"] == 1 and doc["version"] == 3
    assert doc["target"]["label"]["threshold"] == 0.075


# --- no lab value can enter v3 ------------------------------------------------------------

LABEL_LABS = {"LBXTC", "LBDHDD", "LBXSCR"}


def test_no_candidate_is_made_from_a_lab_variable():
    for name, feature in T.LAB_FREE_FEATURES.items():
        assert name not in T.LAB_FEATURES, name
        assert not set(feature.sources) & (set(T.LAB_VARIABLES) | LABEL_LABS), name
        assert all(not s.startswith("LB") for s in feature.sources), name  # NHANES lab prefix


def test_the_committed_model_has_only_lab_free_inputs():
    from training.train_v3 import check_lab_free
    names = [f["name"] for f in json.loads(MODEL.read_text())["features"]]
    check_lab_free(names)
    golden = json.loads((V3 / "golden.json").read_text())
    assert golden["features"] == names


@pytest.mark.parametrize("lab", ["total_cholesterol", "hdl_cholesterol", "serum_creatinine",
                                 "hba1c", "egfr"])
def test_selection_refuses_a_lab_feature(lab):
    from training.train_v3 import check_lab_free
    with pytest.raises(ValueError, match="not a lab-free"):
        check_lab_free(["age", lab])


# --- metrics --------------------------------------------------------------------------------

def test_calibration_of_perfect_probabilities():
    rng = np.random.default_rng(0)
    p = rng.uniform(0.01, 0.99, 20000)
    y = (rng.uniform(size=p.size) < p).astype(int)
    c = S.calibration(y, p)
    assert c["slope"] == pytest.approx(1.0, abs=0.05)
    assert c["citl"] == pytest.approx(0.0, abs=0.05)
    assert c["o_e"] == pytest.approx(1.0, abs=0.03)


def test_age_rule_takes_the_highest_cut_meeting_the_recall():
    y = np.array([0, 0, 1, 0, 1, 1])
    age = np.array([30, 40, 50, 55, 60, 70])
    rule = S.age_rule_at_recall(y, age, 1.0)
    assert rule["cut"] == 50 and rule["specificity"] == pytest.approx(2 / 3)


# --- reproduction ------------------------------------------------------------------------------

@pytest.mark.pipeline
def test_retrain_reproduces_the_committed_v3_byte_for_byte(tmp_path):
    from training.train_v3 import DEFAULT_REPORT, DEFAULT_SEED, run
    run(tmp_path, DEFAULT_SEED, tmp_path / "report.md", log=lambda _l: None)
    for name in ("model.json", "golden.json"):
        assert (tmp_path / name).read_bytes() == (V3 / name).read_bytes(), name
    assert (tmp_path / "report.md").read_bytes() == DEFAULT_REPORT.read_bytes()
