"""Model fitting: imputation policy, SMOTE + Elastic Net logistic regression, feature selection.

SMOTE lives inside an imbalanced-learn pipeline, so in cross-validation it is applied to the
training folds only and never to a validation fold, the calibration split or the test split.
"""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from imblearn.over_sampling import SMOTE
from imblearn.pipeline import Pipeline
from sklearn.exceptions import ConvergenceWarning
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.preprocessing import StandardScaler

from training.constrained import EXPECTED_SIGNS, SignConstrainedLogisticRegression
from training.spec import BASE_FEATURES, CANDIDATES

MAX_FEATURES = 12
#: A candidate joins (or a feature leaves) only for a CV-AUC change larger than this.
SELECTION_MIN_GAIN = 0.002
#: A feature is dropped when the CV AUC without it stays within this of the best seen.
SELECTION_DROP_TOLERANCE = 0.0005
C_GRID = (0.01, 0.1, 1.0)
L1_RATIO_GRID = (0.0, 0.5, 1.0)


def make_pipeline(seed: int, c: float = 1.0, l1_ratio: float = 0.5,
                  signs: tuple[int, ...] | None = None) -> Pipeline:
    """Median/mode imputation (fitted on the data it is fitted on) -> scale -> SMOTE -> LR.

    With `signs` (one +1/-1/0 per feature) the LR is sign-constrained and L2-only
    (`l1_ratio` is then unused); without, the Elastic Net of v1.
    """
    if signs is not None:
        lr = SignConstrainedLogisticRegression(C=c, signs=tuple(signs))
    else:
        lr = LogisticRegression(penalty="elasticnet", solver="saga", C=c, l1_ratio=l1_ratio,
                                max_iter=5000, tol=1e-5, random_state=seed)
    return Pipeline([
        ("impute", SimpleImputer(strategy="median")),
        ("scale", StandardScaler()),
        ("smote", SMOTE(random_state=seed)),
        ("lr", lr),
    ])


def signs_of(features: list[str]) -> tuple[int, ...]:
    """The expected effect direction of each feature (0 where none is established)."""
    return tuple(EXPECTED_SIGNS.get(f, 0) for f in features)


def cv_auc(frame: pd.DataFrame, features: list[str], seed: int, c: float = 1.0,
           l1_ratio: float = 0.5, constrained: bool = False) -> float:
    """Mean 5-fold stratified CV AUC on `frame` (the training split)."""
    folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=seed)
    signs = signs_of(features) if constrained else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        scores = cross_val_score(make_pipeline(seed, c, l1_ratio, signs),
                                 frame[features].to_numpy(), frame["label"].to_numpy(),
                                 cv=folds, scoring="roc_auc")
    return float(np.mean(scores))


def select_features(train: pd.DataFrame, seed: int, log, candidates: list[str] | None = None,
                    constrained: bool = False) -> tuple[list[str], list[dict]]:
    """Greedy selection by CV AUC on `train`: add candidates, then prune.

    Starts from the brief's base set; a feature is added when it raises CV AUC by more than
    SELECTION_MIN_GAIN, and removed while the CV AUC without it stays within
    SELECTION_DROP_TOLERANCE of the best seen (each feature costs encrypted work). Returns
    the chosen list and the trace of every step.
    """
    pool = list(CANDIDATES) if candidates is None else list(candidates)
    chosen = [f for f in BASE_FEATURES if f in pool]

    def score(features: list[str]) -> float:
        return cv_auc(train, features, seed, constrained=constrained)

    trace = [{"step": "start", "features": list(chosen),
              "cv_auc": score(chosen)}]  # type: list[dict]
    best = trace[0]["cv_auc"]
    log(f"  base set: CV AUC {best:.4f}")
    while len(chosen) < MAX_FEATURES:
        others = [f for f in pool if f not in chosen]
        if not others:
            break
        gain, feature = max((score(chosen + [f]), f) for f in others)
        if gain - best <= SELECTION_MIN_GAIN:
            break
        chosen.append(feature)
        best = gain
        trace.append({"step": f"add {feature}", "features": list(chosen), "cv_auc": gain})
        log(f"  + {feature}: CV AUC {gain:.4f}")
    improved = True
    while improved and len(chosen) > 1:
        improved = False
        kept, feature = max((score([g for g in chosen if g != f]), f) for f in chosen)
        # Compare with the best score seen so far, so repeated drops cannot add up to a loss.
        if kept >= best - SELECTION_DROP_TOLERANCE:
            chosen.remove(feature)
            best = max(best, kept)
            trace.append({"step": f"drop {feature}", "features": list(chosen), "cv_auc": kept})
            log(f"  - {feature}: CV AUC {kept:.4f}")
            improved = True
    return chosen, trace


def tune_hyperparameters(train: pd.DataFrame, features: list[str], seed: int, log,
                         constrained: bool = False) -> dict:
    """Grid over C (and, unconstrained, l1_ratio) by CV AUC on the training split."""
    results = []
    for c in C_GRID:
        for l1 in ((0.0,) if constrained else L1_RATIO_GRID):
            score = cv_auc(train, features, seed, c, l1, constrained)
            results.append({"C": c, "l1_ratio": l1, "cv_auc": score})
            log(f"  C={c:<5} l1_ratio={l1:<4} CV AUC {score:.4f}")
    return max(results, key=lambda r: (r["cv_auc"], -r["C"]))


def nested_cv_auc(train: pd.DataFrame, seed: int, candidates: list[str] | None = None,
                  constrained: bool = False, log=lambda _line: None) -> dict:
    """The honest estimate of the whole recipe: selection and tuning redone inside each of 5
    outer folds of `train`, AUC measured on the outer fold they never saw."""
    outer = StratifiedKFold(n_splits=5, shuffle=True, random_state=seed + 1)
    aucs, chosen_sets = [], []
    y = train["label"].to_numpy()
    for k, (fit_rows, held_rows) in enumerate(outer.split(train, y)):
        inner, held = train.iloc[fit_rows].reset_index(drop=True), train.iloc[held_rows]
        features, _ = select_features(inner, seed, lambda _line: None, candidates, constrained)
        best = tune_hyperparameters(inner, features, seed, lambda _line: None, constrained)
        signs = signs_of(features) if constrained else None
        pipeline = make_pipeline(seed, best["C"], best["l1_ratio"], signs)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            pipeline.fit(inner[features].to_numpy(), inner["label"].to_numpy())
        p = pipeline.predict_proba(held[features].to_numpy())[:, 1]
        aucs.append(float(roc_auc_score(held["label"].to_numpy(), p)))
        chosen_sets.append(features)
        log(f"  outer fold {k + 1}: AUC {aucs[-1]:.4f} with {', '.join(features)}")
    return {"auc_mean": float(np.mean(aucs)), "auc_sd": float(np.std(aucs, ddof=1)),
            "fold_aucs": aucs, "fold_features": chosen_sets}
