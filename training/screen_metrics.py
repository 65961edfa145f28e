"""Figures of a screening rule that cannot flatter it: per-group specificity beside recall,
calibration slope / calibration-in-the-large / observed-to-expected, and the best single-cut
age rule at the same recall. Used by `training.train_v3` (nested-CV estimates, test report)
and `training.evaluate`.

Every function takes arrays (label y in {0, 1}, probability p, alarm `flagged`, optional
weights w) and returns aggregates only.
"""
from __future__ import annotations

import math

import numpy as np
from sklearn.metrics import roc_auc_score

from training.metrics import expected_calibration_error

EPS = 1e-6
AGE_BANDS = ((30, 49), (50, 64), (65, 79))


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=float), EPS, 1.0 - EPS)
    return np.log(p / (1.0 - p))


def _newton(y, x, offset, w, fit_slope: bool) -> tuple[float, float]:
    """Weighted logistic regression y ~ a + b*x + offset by Newton's method (b = 0 when
    not `fit_slope`). Returns (a, b)."""
    a, b = 0.0, 0.0
    for _ in range(100):
        z = a + b * x + offset
        mu = 1.0 / (1.0 + np.exp(-z))
        r = w * (y - mu)
        v = w * mu * (1.0 - mu)
        if fit_slope:
            g = np.array([r.sum(), (r * x).sum()])
            h = np.array([[v.sum(), (v * x).sum()], [(v * x).sum(), (v * x * x).sum()]])
            try:
                step = np.linalg.solve(h, g)
            except np.linalg.LinAlgError:
                return math.nan, math.nan
            a, b = a + step[0], b + step[1]
            if np.abs(step).max() < 1e-10:
                break
        else:
            if v.sum() <= 0:
                return math.nan, 0.0
            step = r.sum() / v.sum()
            a += step
            if abs(step) < 1e-10:
                break
    return float(a), float(b)


def calibration(y, p, w=None) -> dict:
    """Calibration slope (logistic recalibration on logit p), calibration-in-the-large
    (intercept with logit p as offset; 0 is perfect), O/E (observed / expected events),
    Brier, ECE (unweighted)."""
    y = np.asarray(y, dtype=float)
    p = np.asarray(p, dtype=float)
    w = np.ones_like(y) if w is None else np.asarray(w, dtype=float)
    lp = _logit(p)
    out = {"n": int(len(y)), "observed": float(np.sum(w * y)), "expected": float(np.sum(w * p))}
    if len(y) and 0 < y.sum() < len(y):
        _, slope = _newton(y, lp, np.zeros_like(lp), w, True)
        citl, _ = _newton(y, np.zeros_like(lp), lp, w, False)
    else:
        slope = citl = math.nan
    out["slope"] = slope
    out["citl"] = citl
    out["o_e"] = out["observed"] / out["expected"] if out["expected"] > 0 else math.nan
    out["brier"] = float(np.average((p - y) ** 2, weights=w)) if len(y) else math.nan
    out["ece"] = expected_calibration_error(y, p) if len(y) else math.nan
    return out


def confusion(y, flagged, w=None) -> dict:
    """Recall, specificity, PPV and share flagged (weighted when `w` is given)."""
    y = np.asarray(y).astype(int)
    f = np.asarray(flagged).astype(bool)
    w = np.ones(len(y)) if w is None else np.asarray(w, dtype=float)
    pos, neg = y == 1, y == 0
    tp, fp = np.sum(w * (f & pos)), np.sum(w * (f & neg))
    fn, tn = np.sum(w * (~f & pos)), np.sum(w * (~f & neg))
    nan = math.nan
    return {
        "n": int(len(y)), "positives": int(pos.sum()),
        "recall": float(tp / (tp + fn)) if tp + fn > 0 else nan,
        "specificity": float(tn / (tn + fp)) if tn + fp > 0 else nan,
        "ppv": float(tp / (tp + fp)) if tp + fp > 0 else nan,
        "flagged": float((tp + fp) / w.sum()) if w.sum() > 0 else nan,
    }


def auc(y, p, w=None) -> float:
    y = np.asarray(y)
    if len(y) == 0 or y.min() == y.max():
        return math.nan
    return float(roc_auc_score(y, p, sample_weight=w))


def auc_ci(y, p, seed: int, resamples: int = 1000) -> tuple[float, float, float]:
    """AUC with a percentile bootstrap 95 % CI (people resampled)."""
    y, p = np.asarray(y), np.asarray(p)
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(resamples):
        idx = rng.integers(0, len(y), len(y))
        if y[idx].min() != y[idx].max():
            values.append(roc_auc_score(y[idx], p[idx]))
    if not values:
        return auc(y, p), math.nan, math.nan
    return auc(y, p), float(np.percentile(values, 2.5)), float(np.percentile(values, 97.5))


def age_rule_at_recall(y, age, recall: float, w=None) -> dict:
    """The best single-cut age rule (flag age >= cut) whose recall is at least `recall`:
    the highest such cut (highest specificity). Chosen on the very data it is measured on,
    which flatters the age rule, not the model."""
    y = np.asarray(y).astype(int)
    age = np.asarray(age, dtype=float)
    best = None
    for cut in sorted(set(age.tolist())):
        c = confusion(y, age >= cut, w)
        if not math.isnan(c["recall"]) and c["recall"] >= recall - 1e-12:
            if best is None or c["specificity"] >= best["specificity"]:
                best = {"cut": cut, **c}
    return best or {"cut": math.nan, **confusion(y, np.ones(len(y), bool), w)}


def band_of(age: float) -> str | None:
    for lo, hi in AGE_BANDS:
        if lo <= age <= hi:
            return f"{lo}-{hi}"
    return None


def oe_by_sex_and_age(y, p, male, age, w=None) -> list[dict]:
    """O/E (and counts) in each sex x age band cell."""
    y, p = np.asarray(y, dtype=float), np.asarray(p, dtype=float)
    male, age = np.asarray(male), np.asarray(age, dtype=float)
    w = np.ones_like(y) if w is None else np.asarray(w, dtype=float)
    rows = []
    for sex, is_male in (("women", 0), ("men", 1)):
        for lo, hi in AGE_BANDS:
            m = (male == is_male) & (age >= lo) & (age <= hi)
            obs, exp = float(np.sum(w[m] * y[m])), float(np.sum(w[m] * p[m]))
            rows.append({"sex": sex, "age": f"{lo}-{hi}", "n": int(m.sum()),
                         "positives": int(y[m].sum()), "observed": obs, "expected": exp,
                         "o_e": obs / exp if exp > 0 else math.nan})
    return rows


def target_figures(y, p, flagged, age, male) -> dict:
    """The issue's targets on one set of (held-out) predictions, unweighted."""
    y = np.asarray(y).astype(int)
    age = np.asarray(age, dtype=float)
    overall = confusion(y, flagged)
    mid = (age >= 50) & (age <= 64)
    rule = age_rule_at_recall(y, age, overall["recall"])
    cal = calibration(y, p)
    oe = oe_by_sex_and_age(y, p, male, age)
    return {
        "n": int(len(y)), "positives": int(y.sum()), "auc": auc(y, p),
        "recall": overall["recall"], "specificity": overall["specificity"],
        "ppv": overall["ppv"], "flagged": overall["flagged"],
        "specificity_50_64": confusion(y[mid], np.asarray(flagged)[mid])["specificity"],
        "age_rule": rule,
        "specificity_gain_over_age_rule": overall["specificity"] - rule["specificity"],
        "calibration_slope": cal["slope"], "citl": cal["citl"], "o_e": cal["o_e"],
        "brier": cal["brier"], "ece": cal["ece"], "o_e_cells": oe,
    }


TARGETS = (
    ("recall >= 0.95", lambda t: t["recall"] >= 0.95),
    ("specificity >= 0.90 overall", lambda t: t["specificity"] >= 0.90),
    ("specificity >= 0.75 at ages 50-64", lambda t: t["specificity_50_64"] >= 0.75),
    ("specificity >= age rule + 0.20 at matched recall",
     lambda t: t["specificity_gain_over_age_rule"] >= 0.20),
    ("calibration slope 0.8-1.2", lambda t: 0.8 <= t["calibration_slope"] <= 1.2),
    ("O/E 0.8-1.2 in every sex x age band",
     lambda t: all(0.8 <= c["o_e"] <= 1.2 for c in t["o_e_cells"])),
)


def verdicts(figures: dict) -> list[tuple[str, bool]]:
    return [(name, bool(check(figures))) for name, check in TARGETS]
