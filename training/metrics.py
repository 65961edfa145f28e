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
    samples = {k: [] for k in point}
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


def report(y, p_quantized, p_float_calibrated, p_float_raw, threshold: float, seed: int) -> dict:
    """The test-split report stored in model.json."""
    out = bootstrap(y, p_quantized, threshold, seed)
    auc_cal = roc_auc_score(y, p_float_calibrated)
    out["auc_float_calibrated"] = round(float(auc_cal), 6)
    out["auc_float_uncalibrated"] = round(float(roc_auc_score(y, p_float_raw)), 6)
    out["delta_auc"] = round(abs(out["auc"]["value"] - float(auc_cal)), 6)
    out["n"] = int(len(y))
    out["positives"] = int(y.sum())
    out["threshold"] = threshold
    return out
