"""Metrics with 95% bootstrap confidence intervals (1000 resamples, fixed seed)."""
from __future__ import annotations

import numpy as np
from sklearn.metrics import brier_score_loss, roc_auc_score

BOOTSTRAP_RESAMPLES = 1000


def expected_calibration_error(y: np.ndarray, p: np.ndarray, bins: int = 10) -> float:
    """ECE with equal-width probability bins."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(p, edges[1:-1]), 0, bins - 1)
    total = 0.0
    for b in range(bins):
        mask = which == b
        if mask.any():
            total += mask.mean() * abs(p[mask].mean() - y[mask].mean())
    return float(total)


def _point(y, p, threshold):
    pred = p >= threshold
    tp = int((pred & (y == 1)).sum())
    fp = int((pred & (y == 0)).sum())
    fn = int((~pred & (y == 1)).sum())
    tn = int((~pred & (y == 0)).sum())
    return {
        "auc": roc_auc_score(y, p),
        "recall": tp / max(tp + fn, 1),
        "precision": tp / max(tp + fp, 1),
        "specificity": tn / max(tn + fp, 1),
        "brier": brier_score_loss(y, p),
        "ece": expected_calibration_error(y, p),
    }


def bootstrap(y: np.ndarray, p: np.ndarray, threshold: float, seed: int) -> dict:
    """Point estimate and percentile 95% CI of each metric."""
    rng = np.random.default_rng(seed)
    point = _point(y, p, threshold)
    samples = {k: [] for k in point}  # type: dict[str, list[float]]
    n = len(y)
    for _ in range(BOOTSTRAP_RESAMPLES):
        idx = rng.integers(0, n, n)
        if y[idx].min() == y[idx].max():
            continue
        for k, v in _point(y[idx], p[idx], threshold).items():
            samples[k].append(v)
    return {k: {"value": round(float(point[k]), 6),
                "ci95": [round(float(np.percentile(samples[k], 2.5)), 6),
                         round(float(np.percentile(samples[k], 97.5)), 6)]}
            for k in point}


def report(y, p_quantized, logit_integer, logit_float, threshold: float, seed: int) -> dict:
    """The test-split report stored in model.json.

    `delta_auc` compares the ranking of the integer pipeline's logit with the float model's
    (what input quantization and integer arithmetic cost); `auc_float` is the float model's
    smooth AUC, so `auc_float - auc` is what the whole encrypted pipeline, table included,
    costs. (The float logit placed into the integer table is not a fair reference: the
    per-digit truncation shifts the integer logit by up to a bin or two.)
    """
    out = bootstrap(y, p_quantized, threshold, seed)
    auc_int = float(roc_auc_score(y, logit_integer))
    auc_float = float(roc_auc_score(y, logit_float))
    out["auc_integer_logit"] = round(auc_int, 6)
    out["auc_float"] = round(auc_float, 6)
    out["delta_auc"] = round(abs(auc_int - auc_float), 6)
    out["n"] = int(len(y))
    out["positives"] = int(y.sum())
    out["threshold"] = threshold
    return out


def _survey_point(y, p, w, threshold) -> dict:
    """Prevalence, AUC, recall and specificity with each person counted `w` times."""
    pred = p >= threshold
    pos, neg = y == 1, y == 0
    return {
        "prevalence": float(np.sum(w * pos) / np.sum(w)),
        "auc": roc_auc_score(y, p, sample_weight=w),
        "recall": float(np.sum(w * (pred & pos)) / max(np.sum(w * pos), 1e-12)),
        "specificity": float(np.sum(w * (~pred & neg)) / max(np.sum(w * neg), 1e-12)),
    }


def survey_report(y: np.ndarray, p: np.ndarray, weights: np.ndarray, threshold: float,
                  seed: int) -> dict:
    """Unweighted and examination-weighted (WTMEC2YR) figures with 95% bootstrap CIs.

    The weights make the sample stand for the US civilian non-institutionalized population.
    Resampling is of people (not of the survey's strata and PSUs), so the CIs are somewhat
    narrower than design-based ones would be.
    """
    rng = np.random.default_rng(seed)
    ones = np.ones_like(weights, dtype=float)
    out = {}
    for name, w in (("unweighted", ones), ("weighted", weights.astype(float))):
        point = _survey_point(y, p, w, threshold)
        samples = {k: [] for k in point}  # type: dict[str, list[float]]
        for _ in range(BOOTSTRAP_RESAMPLES):
            idx = rng.integers(0, len(y), len(y))
            if y[idx].min() == y[idx].max():
                continue
            for k, v in _survey_point(y[idx], p[idx], w[idx], threshold).items():
                samples[k].append(v)
        out[name] = {k: {"value": round(float(point[k]), 6),
                         "ci95": [round(float(np.percentile(samples[k], 2.5)), 6),
                                  round(float(np.percentile(samples[k], 97.5)), 6)]}
                     for k in point}
    return out


#: NHANES RIDRETH3 codes grouped as the survey reports them.
RACE_ETHNICITY = {1: "Mexican American", 2: "Other Hispanic", 3: "Non-Hispanic White",
                  4: "Non-Hispanic Black", 6: "Non-Hispanic Asian", 7: "Other or multi-racial"}


def subgroups(frame, y: np.ndarray, p: np.ndarray, threshold: float) -> list[dict]:
    """AUC and recall (unweighted and weighted) by sex, age band and race/ethnicity."""
    w = frame["exam_weight"].to_numpy(dtype=float)
    groups = {
        "men": frame["male"] == 1,
        "women": frame["male"] == 0,
        "age 20-39": frame["age"] < 40,
        "age 40-59": (frame["age"] >= 40) & (frame["age"] < 60),
        "age 60+": frame["age"] >= 60,
        **{label: frame["race_ethnicity"] == code for code, label in RACE_ETHNICITY.items()},
    }
    rows = []
    for name, mask in groups.items():
        m = mask.to_numpy()
        yy, pp, ww = y[m], p[m], w[m]
        pos = int(yy.sum())
        row = {"group": name, "n": int(m.sum()), "positives": pos}
        if 0 < pos < len(yy):
            row["auc"] = round(float(roc_auc_score(yy, pp)), 4)
            row["auc_weighted"] = round(float(roc_auc_score(yy, pp, sample_weight=ww)), 4)
        if pos:
            hit = pp[yy == 1] >= threshold
            row["recall"] = round(float(hit.mean()), 4)
            row["recall_weighted"] = round(float(np.sum(ww[yy == 1] * hit)
                                                 / np.sum(ww[yy == 1])), 4)
        rows.append(row)
    return rows
