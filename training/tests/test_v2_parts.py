"""The pieces model v2 is made of, each on small inputs where the answer is known."""
from __future__ import annotations

from itertools import pairwise

import numpy as np
import pandas as pd
import pytest

from training import metrics as M
from training.constrained import SignConstrainedLogisticRegression
from training.integer_pipeline import IntegerModel
from training.spec import build_cohort
from training.table import best_breaks, build_table
from training.threshold import choose_threshold


def test_sign_constraints_hold_where_the_free_fit_goes_the_other_way():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2000, 2))
    y = (rng.random(2000) < 1 / (1 + np.exp(-(1.5 * x[:, 0] - 1.0 * x[:, 1])))).astype(int)
    free = SignConstrainedLogisticRegression(C=10.0).fit(x, y)
    assert free.coef_[0][1] < -0.5
    bound = SignConstrainedLogisticRegression(C=10.0, signs=(1, 1)).fit(x, y)
    assert bound.coef_[0][1] == pytest.approx(0.0, abs=1e-8)
    assert bound.coef_[0][0] > 1.0
    p = bound.predict_proba(x)[:, 1]
    assert np.all((0 < p) & (p < 1))


def test_table_breaks_are_exact_on_a_small_case():
    # Positives sit in the high bins: one break between bin 3 and 4 loses nothing.
    pos = np.array([0, 0, 0, 0, 5, 5, 5, 5])
    neg = np.array([5, 5, 5, 5, 0, 0, 0, 0])
    assert best_breaks(pos, neg, levels=2, step=1) == [0, 4]
    # A forced break is kept even when it is not the best place.
    assert 2 in best_breaks(pos, neg, levels=3, step=2, forced=2)


def test_table_is_monotone_has_at_most_16_levels_and_breaks_on_the_threshold():
    rng = np.random.default_rng(1)
    index = rng.integers(0, 140, 3000)
    labels = (rng.random(3000) < index / 300).astype(int)
    probs = list(np.linspace(0.001, 0.7, 256))
    table = build_table(probs, index, labels, 4096, threshold_bin=36)
    assert len(table) == 256 and len(set(table)) <= 16
    assert all(a <= b for a, b in pairwise(table))
    assert table[36] > table[35]
    for h in range(16):
        bucket = table[16 * h:16 * h + 16]
        assert sum(b > a for a, b in pairwise(bucket)) <= 4


def test_threshold_margin_is_never_above_the_point_rule():
    rng = np.random.default_rng(2)
    y = (rng.random(900) < 0.1).astype(int)
    index = np.where(y == 1, rng.integers(30, 140, 900), rng.integers(0, 120, 900))
    choice = choose_threshold(index, y, list(range(0, 256, 4)), seed=3)
    assert choice["bin"] <= choice["point_rule_bin"]
    assert choice["calibration_recall"] >= 0.95
    assert choice["resamples_meeting_target"] >= 0.8


def test_weighted_metrics_follow_the_weights():
    y = np.array([1, 0, 1, 0])
    p = np.array([0.9, 0.1, 0.2, 0.3])
    even = M.survey_report(y, p, np.ones(4), 0.5, seed=1)
    assert even["weighted"]["auc"]["value"] == even["unweighted"]["auc"]["value"] == 0.75
    # Weighting the well-ranked positive up raises the weighted AUC and recall.
    tilted = M.survey_report(y, p, np.array([9.0, 1, 1, 1]), 0.5, seed=1)
    assert tilted["weighted"]["recall"]["value"] == pytest.approx(0.9)
    assert tilted["weighted"]["auc"]["value"] > 0.75
    assert tilted["weighted"]["prevalence"]["value"] == pytest.approx(10 / 12)


def test_a_gated_answer_counts_only_from_its_threshold():
    model = IntegerModel([20.0, 0.0], [80.0, 1.0], [6, 1], [100, 4000], 0, 6, 200, 2, 8,
                         [0] * 256, 0, [None, (0, 40.0)])
    young, old = model.run([39.5, 1.0]), model.run([40.0, 1.0])
    assert young["x"][1] == 0 and old["x"][1] == 1
    assert old["logit"] - young["logit"] > 50


def test_cohort_items_follow_the_nhanes_codes():
    raw = pd.DataFrame({
        "SEQN": [1, 2, 3, 4], "RIDAGEYR": [35, 55, 70, 45], "RIAGENDR": [1, 2, 1, 2],
        "MCQ160C": [2, 1, 2, 2], "MCQ160D": [2, 2, 2, 2], "MCQ160E": [2, 2, 2, 2],
        "MCQ160F": [2, 2, 2, 2], "CDQ001": [np.nan, 1, 2, 9], "CDQ010": [np.nan, 2, 1, 2],
        "HUQ010": [1, 2, 5, 9], "SMQ020": [2, 1, 1, 1], "SMQ040": [np.nan, 1, 3, 2],
        "MCQ300A": [1, 2, 9, 2], "INDFMPIR": [5.0, 1.2, np.nan, 0.5],
    })
    for col in ("BPQ020", "BPQ080", "DIQ010", "LBDHDD", "LBXSCR", "BMXWAIST", "LBXGH", "LBXTC",
                "BMXBMI", "WTMEC2YR", "WTMECPRP", "RIDRETH3", *[f"BPX{k}{i}" for k in
                ("SY", "DI", "OSY", "ODI") for i in (1, 2, 3, 4)]):
        raw[col] = np.nan
    c = build_cohort(raw).set_index("SEQN")
    assert c.loc[1, "chest_pain_ever"] == 0 and c.loc[2, "chest_pain_ever"] == 1
    assert np.isnan(c.loc[4, "chest_pain_ever"])  # "don't know" is missing, not "no"
    assert list(c["general_health"]) == [1.0, 1.0, 4.0, pytest.approx(np.nan, nan_ok=True)]
    assert list(c["current_smoker"]) == [0.0, 1.0, 0.0, 1.0]
    assert c.loc[3, "short_of_breath_on_hill"] == 1
    assert c.loc[1, "family_history_mi"] == 1 and np.isnan(c.loc[3, "family_history_mi"])
    assert c.loc[2, "label"] == 1
