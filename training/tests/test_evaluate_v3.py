"""training.evaluate on cvd-lr v3 (issue 32 part 3): the label is read from the model's
`target` and built from a cycle's CDC files, every section is printed with the population
first, imputation is counted, and --scores-out has one row per scored person."""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from training import evaluate as E
from training import screen_metrics as S
from training import v3_target as T
from training.tests.xport_writer import write_xport

ROOT = Path(__file__).resolve().parents[2]
MODEL = ROOT / "models" / "cvd-lr" / "v3" / "model.json"

# --- evaluate --------------------------------------------------------------------------------

CDC_FILES = {
    "DEMO": ["RIDAGEYR", "RIAGENDR", "RIDRETH3", "WTMEC2YR"],
    "BPX": ["BPXSY1", "BPXSY2", "BPXSY3", "BPXSY4"],
    "BMX": ["BMXBMI", "BMXWAIST"],
    "BIOPRO": ["LBXSCR"], "TCHOL": ["LBXTC"], "HDL": ["LBDHDD"],
    "MCQ": ["MCQ160B", "MCQ160C", "MCQ160D", "MCQ160E", "MCQ160F"],
    "DIQ": ["DIQ010"], "SMQ": ["SMQ020", "SMQ040"],
    "BPQ": ["BPQ020", "BPQ040A", "BPQ050A", "BPQ080", "BPQ060", "BPQ090D", "BPQ100D"],
}


@pytest.fixture(scope="module")
def cycle(tmp_path_factory) -> Path:
    """Every third participant of the committed extracts, written as CDC XPT files (one CSV)."""
    raw = T.training_raw().iloc[::3].reset_index(drop=True)
    directory = tmp_path_factory.mktemp("cycle")
    for name, cols in CDC_FILES.items():
        part = raw[["SEQN", *cols]]
        part = part[part[cols].notna().any(axis=1)]
        if name == "HDL":
            part.to_csv(directory / f"{name}_H.csv", index=False)
        else:
            write_xport(directory / f"{name}_H.XPT", part, f"{name}_H")
    return directory


SECTIONS = ["== population and label ==", "== cohort ==",
            "== discrimination and classification at the model's threshold ==",
            "== subgroups (unweighted | survey-weighted) ==", "== calibration ==",
            "== best single-cut age rule at the same recall =="]


def test_evaluate_prints_every_section_population_first(cycle):
    r = E.evaluate(cycle, MODEL)
    text = E.render(r)
    positions = [text.find(s) for s in SECTIONS]
    assert -1 not in positions and positions == sorted(positions) and positions[0] == 0
    assert "PREVENT base 10-year total CVD risk >= 7.5 %" in text.splitlines()[2]
    for group in ("men", "women", "age 30-49", "age 50-64", "age 65-79", "Non-Hispanic Black"):
        assert any(line.startswith(group) for line in text.splitlines()), group
    assert "age < 30" not in text  # the target's population starts at 30
    for word in ("slope", "calibration-in-the-large", "O/E", "Brier", "ECE", "age >= "):
        assert word in text
    assert r["analysis"] == "complete cases"
    assert r["n"] == r["evaluated_population"] - r["left_out_incomplete"]


def test_evaluate_builds_the_same_label_as_training(cycle):
    r = E.evaluate(cycle, MODEL)
    expected = T.build_target_cohort(T.training_raw().iloc[::3].reset_index(drop=True)).frame
    assert r["evaluated_population"] == len(expected)
    scores = r["scores"].set_index("SEQN")["label"]
    assert (scores == expected.set_index("SEQN")["label"].loc[scores.index]).all()


def test_impute_is_counted_per_feature(tmp_path):
    """v3's selected inputs are label variables too (never missing in its population), so the
    imputation path is shown on v2, whose creatinine is missing for some people."""
    from training.train import load_extract
    sample = load_extract().iloc[::5]
    directory = tmp_path / "cycle"
    directory.mkdir()
    sample.to_csv(directory / "demographic.csv", index=False)
    for component in ("examination", "labs", "questionnaire"):
        sample[["SEQN"]].to_csv(directory / f"{component}.csv", index=False)
    v2 = ROOT / "models" / "cvd-lr" / "v2" / "model.json"
    complete = E.evaluate(directory, v2)
    imputed = E.evaluate(directory, v2, impute=True)
    assert complete["left_out_incomplete"] > 0
    assert complete["n"] == complete["evaluated_population"] - complete["left_out_incomplete"]
    assert imputed["n"] == complete["evaluated_population"]
    assert imputed["imputed_per_feature"] == {k: v for k, v in
                                              complete["missing_per_feature"].items() if v}
    assert "training medians filled in per feature: " in E.render(imputed)
    assert "complete cases (" in E.render(complete)


def test_scores_out_has_one_row_per_scored_person(cycle, tmp_path):
    r = E.evaluate(cycle, MODEL)
    path = tmp_path / "scores.csv"
    E.write_scores(path, r["scores"])
    with open(path) as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == ["SEQN", "label", "probability", "flagged"]
    assert len(rows) == r["n"] and len({row["SEQN"] for row in rows}) == r["n"]
    y = np.array([int(row["label"]) for row in rows])
    p = np.array([float(row["probability"]) for row in rows])
    f = np.array([int(row["flagged"]) for row in rows])
    assert set(y) == {0, 1} and set(f) <= {0, 1}
    # Every figure can be recomputed from the rows.
    assert S.confusion(y, f.astype(bool))["recall"] == pytest.approx(r["overall"]["recall"])
    assert S.auc(y, p) == pytest.approx(r["auc"]["value"], abs=1e-6)


def test_a_model_without_target_keeps_its_old_rule(cycle):
    text = E.describe_target({"features": []})
    assert "old label rule" in text and "MCQ160C/D/E/F" in text


