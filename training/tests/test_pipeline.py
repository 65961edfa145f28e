"""Training pipeline tests: schema, integer pipeline, leakage, determinism, golden vectors."""
from __future__ import annotations

import json
import math
from itertools import pairwise
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from training import train as T
from training.evaluate import model_from_json
from training.golden_edges import edge_vectors
from training.integer_pipeline import logit_bounds, quantize_value
from training.spec import build_cohort

COMMITTED = T.DEFAULT_OUT / "model.json"


@pytest.fixture(scope="session")
def fresh(tmp_path_factory) -> tuple[dict, Path]:
    out = tmp_path_factory.mktemp("model")
    doc = T.run(out, T.DEFAULT_SEED, report=False)
    return doc, out


@pytest.fixture(scope="session")
def committed() -> dict:
    return json.loads(COMMITTED.read_text())


def test_schema(committed):
    for key in ("schema_version", "model_id", "version", "features", "weights", "bias", "linear",
                "index", "lut", "threshold", "metrics", "training"):
        assert key in committed
    assert committed["schema_version"] == 1
    assert committed["version"] == 2
    assert len(committed["weights"]) == len(committed["features"]) <= 12
    assert len(committed["lut"]) == 2 ** committed["index"]["bits"]
    assert all(0 <= p <= 4096 for p in committed["lut"])
    for f in committed["features"]:
        assert f["plausible_min"] <= f["clamp_min"] < f["clamp_max"] <= f["plausible_max"]
        if f["kind"] == "ordinal":
            assert (1 << f["bits"]) - 1 == len(f["answers"]) - 1 == f["clamp_max"] - f["clamp_min"]
    leaky = {"BPQ050A", "BPQ100D", "RXQ510", "MCQ160B"}
    assert not leaky & {f["name"] for f in committed["features"]}


def test_lut_monotone_and_few_levels(committed):
    lut = committed["lut"]
    assert all(a <= b for a, b in pairwise(lut))
    assert len(set(lut)) <= 16


def test_proven_bounds_need_no_clamp(committed):
    bits = [f["bits"] for f in committed["features"]]
    lo, hi = logit_bounds(committed["weights"], committed["bias"], bits,
                          committed["linear"]["grain_shift"])
    assert (lo, hi) == (committed["linear"]["logit_min"], committed["linear"]["logit_max"])
    assert lo + committed["index"]["offset"] == 0
    index = committed["index"]
    assert (hi + index["offset"]) >> index["shift"] < 2 ** index["bits"]


def test_committed_model_records_the_current_code_hash(committed):
    """The committed v2 was made by the model-determining code as it is now: the code hash in
    its model.json is the hash of those modules today. The hash covers their syntax only
    (`normalized_source`), so a comment or docstring edit passes, and any change to what they
    run fails here until v2 is retrained and re-signed."""
    assert committed["training"]["code_sha256"] == T.code_sha256(), (
        "the model-determining code (training.train.MODEL_DETERMINING_MODULES) is not the code "
        f"that made {COMMITTED}: retrain and re-sign the release, or undo the change")


def _same(fresh, committed, path="") -> list[str]:
    """Paths where two JSON values differ: exactly, except floats, which may differ in their
    last bits (relative 1e-12: BLAS kernels differ across CPUs in the order they sum)."""
    if isinstance(fresh, float) and isinstance(committed, float):
        return [] if math.isclose(fresh, committed, rel_tol=1e-12, abs_tol=1e-15) else [path]
    if isinstance(fresh, dict) and isinstance(committed, dict):
        if fresh.keys() != committed.keys():
            return [path + " (keys)"]
        return [p for k in fresh for p in _same(fresh[k], committed[k], f"{path}.{k}")]
    if isinstance(fresh, list) and isinstance(committed, list):
        if len(fresh) != len(committed):
            return [path + " (length)"]
        return [p for i, (a, b) in enumerate(zip(fresh, committed, strict=True))
                for p in _same(a, b, f"{path}[{i}]")]
    return [] if fresh == committed else [path]


def test_float_tolerance_is_last_bits_only():
    assert _same({"a": [1, 0.7917047416651285]}, {"a": [1, 0.7917047416651284]}) == []
    assert _same({"a": [1, 0.79170474]}, {"a": [1, 0.79170475]}) == [".a[1]"]
    assert _same({"w": [3, 4]}, {"w": [3, 5]}) == [".w[1]"]


@pytest.mark.pipeline
def test_same_seed_gives_identical_model(fresh):
    """The committed release (v2) is exactly what the code makes from the committed extract,
    code hash included: the fresh model records the hash of the code that ran
    (`code_sha256()`), and the committed one must record the same."""
    _, out = fresh
    fresh_doc = json.loads((out / "model.json").read_text())
    committed_doc = json.loads(COMMITTED.read_text())
    # Everything the engines use (weights, bias, tables, bounds) must be identical; the float
    # training metadata may differ in its last bits across CPUs (its strings, the code hash
    # among them, must not).
    assert {k: v for k, v in fresh_doc.items() if k != "training"} == \
        {k: v for k, v in committed_doc.items() if k != "training"}, \
        "committed model.json is stale or training is not deterministic"
    assert fresh_doc["training"]["code_sha256"] == T.code_sha256()
    assert _same(fresh_doc["training"], committed_doc["training"]) == [], \
        "committed training metadata is stale"
    assert (out / "golden.json").read_bytes() == (T.DEFAULT_OUT / "golden.json").read_bytes()


def test_code_hash_ignores_comments_and_docstrings_but_not_code():
    source = (T.HERE / "integer_pipeline.py").read_text()
    base = T.normalized_source(source)
    edited = source.replace('"""The integer inference pipeline', '"""Edited docstring. The integer')
    edited = edited.replace("DIGIT_BITS = 2\n", "DIGIT_BITS = 2  # a new comment\n")
    assert edited != source
    assert T.normalized_source(edited) == base
    changed = source.replace("DIGIT_BITS = 2\n", "DIGIT_BITS = 3\n")
    assert T.normalized_source(changed) != base


@pytest.mark.pipeline
def test_quantized_auc_close_to_float_and_recomputable(fresh):
    doc, _ = fresh
    m = doc["metrics"]["test"]
    assert m["delta_auc"] < 0.001
    assert m["auc_float"] - m["auc"]["value"] < 0.01, "the table costs less than 0.01 AUC"
    # Recompute the quantized AUC independently from the exported integer model.
    cohort = build_cohort(T.load_extract())
    _, _, test = T.split(cohort, T.DEFAULT_SEED)
    names = [f["name"] for f in doc["features"]]
    x = test[names].fillna(doc["training"]["imputation_medians"]).to_numpy(dtype=float)
    model = model_from_json(doc)
    p = np.array([model.run(list(r))["p"] for r in x])
    assert abs(roc_auc_score(test["label"], p) - m["auc"]["value"]) < 1e-6


@pytest.mark.pipeline
def test_calibration_threshold_reaches_target_recall(fresh):
    doc, _ = fresh
    assert doc["metrics"]["calibration_recall_at_threshold"] >= 0.95
    choice = doc["metrics"]["threshold_choice"]
    assert choice["resamples_meeting_target"] >= 0.8
    # A level starts exactly at the chosen bin, and that level is the threshold.
    lut = doc["lut"]
    assert lut[choice["bin"]] == doc["threshold"] > lut[choice["bin"] - 1]


@pytest.mark.pipeline
def test_every_coefficient_has_its_medical_sign(fresh):
    from training.constrained import EXPECTED_SIGNS
    doc, _ = fresh
    for name, beta in doc["training"]["float_coefficients_standardized"].items():
        sign = EXPECTED_SIGNS.get(name, 0)
        assert beta * sign >= 0, f"{name} has coefficient {beta}"
    for f, w in zip(doc["features"], doc["weights"], strict=True):
        assert w * EXPECTED_SIGNS.get(f["name"], 0) >= 0, f["name"]


@pytest.mark.pipeline
def test_survey_weighted_and_subgroup_figures_are_reported(fresh):
    doc, _ = fresh
    survey = doc["metrics"]["test"]["survey"]
    for kind in ("unweighted", "weighted"):
        for k in ("prevalence", "auc", "recall", "specificity"):
            v = survey[kind][k]
            assert v["ci95"][0] <= v["value"] <= v["ci95"][1]
    groups = {r["group"] for r in doc["metrics"]["test"]["subgroups"]}
    assert {"men", "women", "age 20-39", "age 60+", "Non-Hispanic Black"} <= groups


@pytest.mark.pipeline
def test_test_rows_never_influence_the_model(fresh, tmp_path):
    doc, _ = fresh
    shuffled = T.run(tmp_path, T.DEFAULT_SEED, report=False, shuffle_test_labels=True)
    for key in ("features", "weights", "bias", "linear", "index", "lut", "threshold"):
        assert shuffled[key] == doc[key], f"{key} depends on the test split"
    assert shuffled["metrics"]["test"] != doc["metrics"]["test"]


def test_splits_are_disjoint():
    cohort = build_cohort(T.load_extract())
    train, cal, test = T.split(cohort, T.DEFAULT_SEED)
    s = [set(d["SEQN"]) for d in (train, cal, test)]
    assert not (s[0] & s[1]) and not (s[0] & s[2]) and not (s[1] & s[2])
    assert sum(map(len, s)) == len(cohort)


def test_golden_vectors_reproduce(committed):
    golden = json.loads((T.DEFAULT_OUT / "golden.json").read_text())
    assert len(golden["vectors"]) >= 200
    model = model_from_json(committed)
    assert golden["edges"] == edge_vectors(committed), "edge vectors are derived from the model"
    for v in golden["vectors"] + golden["edges"]:
        r = model.run(v["raw"])
        assert (r["x"], r["logit"], r["index"], r["p"], r["high"]) == \
            (v["x"], v["logit"], v["index"], v["p"], v["high"])


def test_quantize_rounding_rule():
    assert quantize_value(50.0, 20.0, 80.0, 6) == 32  # 31.5 rounds half up
    assert quantize_value(-1.0, 0.0, 1.0, 1) == 0
    assert quantize_value(1e9, 20.0, 80.0, 6) == 63


def test_label_treats_refused_and_unknown_as_missing():
    import pandas as pd

    from training.spec import label_from_items
    frame = pd.DataFrame({"MCQ160C": [1, 2, 7, 2, 9], "MCQ160D": [2, 2, 2, 2, 1],
                          "MCQ160E": [2, 2, 2, 9, 2], "MCQ160F": [2, 2, 2, 2, 2]})
    label = label_from_items(frame).tolist()
    assert label[0] == 1 and label[1] == 0 and label[4] == 1
    assert np.isnan(label[2]) and np.isnan(label[3])
