"""External validation reads a cycle as the CDC publishes it: per-component XPT files with a
cycle suffix (either case), or one CSV per component, with no conversion step."""
from __future__ import annotations

import json

import pandas as pd
import pytest

from training import evaluate as E
from training.spec import load_merged
from training.tests.xport_writer import write_xport
from training.train import DEFAULT_OUT, load_extract

#: How the CDC splits the variables Pulsecure reads into files (2013-2014 names, suffix _H).
CDC_FILES = {
    "DEMO": ["RIDAGEYR", "RIAGENDR", "RIDRETH3", "INDFMPIR", "WTMEC2YR"],
    "BPX": ["BPXSY1", "BPXSY2", "BPXSY3", "BPXSY4", "BPXDI1", "BPXDI2", "BPXDI3", "BPXDI4"],
    "BMX": ["BMXBMI", "BMXWAIST"],
    "BIOPRO": ["LBXSCR"],
    "TCHOL": ["LBXTC"],
    "HDL": ["LBDHDD"],
    "GHB": ["LBXGH"],
    "BPQ": ["BPQ020", "BPQ080"],
    "SMQ": ["SMQ020", "SMQ040"],
    "DIQ": ["DIQ010"],
    "CDQ": ["CDQ001", "CDQ010"],
    "HUQ": ["HUQ010"],
    "MCQ": ["MCQ160C", "MCQ160D", "MCQ160E", "MCQ160F", "MCQ300A"],
}
MODEL = DEFAULT_OUT / "model.json"


@pytest.fixture(scope="module")
def sample() -> pd.DataFrame:
    """Every fifth participant of the committed extract (1 628), as a stand-in cycle."""
    return load_extract().iloc[::5].reset_index(drop=True)


def _write_cycle(directory, sample, suffix="H", skip=(), csv=()):
    directory.mkdir()
    for i, (name, cols) in enumerate(CDC_FILES.items()):
        if name in skip:
            continue
        part = sample[["SEQN", *cols]]
        # A component file lists only its own participants (not everyone examined has labs).
        part = part[part[cols].notna().any(axis=1)]
        stem = f"{name}_{suffix}"
        if name in csv:
            part.to_csv(directory / f"{stem}.csv", index=False)
        else:
            write_xport(directory / (f"{stem}.XPT" if i % 2 else f"{stem}.xpt"), part, stem)


def test_cdc_files_give_the_same_cohort_as_the_extract(tmp_path, sample):
    _write_cycle(tmp_path / "cycle", sample, csv=("GHB",))
    raw = load_merged(tmp_path / "cycle")
    assert E.absent_variables(raw) == ["BPXODI1", "BPXODI2", "BPXODI3", "BPXOSY1", "BPXOSY2",
                                       "BPXOSY3", "WTMECPRP"]
    reference = tmp_path / "reference"
    reference.mkdir()
    # The same participants through the four-CSV layout of ../shared.
    for component, cols in {"demographic": ["RIDAGEYR", "RIAGENDR", "RIDRETH3", "INDFMPIR",
                                            "WTMEC2YR"]}.items():
        sample[["SEQN", *cols]].to_csv(reference / f"{component}.csv", index=False)
    others = [c for cols in CDC_FILES.values() for c in cols if c not in
              ("RIDAGEYR", "RIAGENDR", "RIDRETH3", "INDFMPIR", "WTMEC2YR")]
    sample[["SEQN", *others]].to_csv(reference / "examination.csv", index=False)
    for component in ("labs", "questionnaire"):
        sample[["SEQN"]].to_csv(reference / f"{component}.csv", index=False)
    from_cdc = E.evaluate(tmp_path / "cycle", MODEL)
    from_csv = E.evaluate(reference, MODEL)
    assert from_cdc["n"] == from_csv["n"] > 800
    for key in ("auc", "recall", "specificity", "brier"):
        assert from_cdc[key] == from_csv[key]
    assert from_cdc["features_without_data"] == []
    assert from_cdc["survey"]["weighted"]["auc"]["value"] > 0.5


def test_a_cycle_without_the_chest_pain_file_is_named(tmp_path, sample):
    _write_cycle(tmp_path / "cycle", sample, suffix="J", skip=("CDQ",))
    result = E.evaluate(tmp_path / "cycle", MODEL)
    assert "CDQ001" in result["absent_variables"]
    features = [f["name"] for f in json.loads(MODEL.read_text())["features"]]
    if "chest_pain_ever" in features:
        assert result["features_without_data"] == ["chest_pain_ever"]


def test_oscillometric_readings_stand_in_when_a_cycle_has_no_auscultatory_ones(tmp_path, sample):
    oscillometric = [f"BPXO{k}{i}" for k in ("SY", "DI") for i in (1, 2, 3)]
    renamed = sample.drop(columns=oscillometric).rename(
        columns={f"BPXSY{i}": f"BPXOSY{i}" for i in (1, 2, 3)}
        | {f"BPXDI{i}": f"BPXODI{i}" for i in (1, 2, 3)})
    files = dict(CDC_FILES)
    files["BPX"] = ["BPXOSY1", "BPXOSY2", "BPXOSY3", "BPXODI1", "BPXODI2", "BPXODI3"]
    directory = tmp_path / "cycle"
    directory.mkdir()
    for name, cols in files.items():
        write_xport(directory / f"{name}_L.XPT", renamed[["SEQN", *cols]], f"{name}_L")
    from training.spec import build_cohort
    cohort = build_cohort(load_merged(directory)).set_index("SEQN")
    readings = sample.set_index("SEQN")[["BPXSY1", "BPXSY2", "BPXSY3"]]
    expected = readings.where(readings > 0).mean(axis=1).loc[cohort.index]
    assert cohort["systolic_bp"].notna().sum() > 700
    pd.testing.assert_series_equal(cohort["systolic_bp"], expected, check_names=False)


def test_an_empty_directory_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="no XPT or CSV file"):
        load_merged(tmp_path)
