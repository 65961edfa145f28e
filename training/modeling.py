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
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.preprocessing import StandardScaler

from training.spec import BASE_FEATURES, CANDIDATES

MAX_FEATURES = 12
#: A candidate joins (or a feature leaves) only for a CV-AUC change larger than this.
SELECTION_MIN_GAIN = 0.002
#: A feature is dropped when the CV AUC without it stays within this of the best seen.
SELECTION_DROP_TOLERANCE = 0.0005
C_GRID = (0.01, 0.1, 1.0)
L1_RATIO_GRID = (0.0, 0.5, 1.0)


def make_pipeline(seed: int, c: float = 1.0, l1_ratio: float = 0.5) -> Pipeline:
    """Median/mode imputation (fitted on the data it is fitted on) -> scale -> SMOTE -> LR."""
    return Pipeline([
        ("impute", SimpleImputer(strategy="median")),
        ("scale", StandardScaler()),
        ("smote", SMOTE(random_state=seed)),
        ("lr", LogisticRegression(penalty="elasticnet", solver="saga", C=c, l1_ratio=l1_ratio,
                                  max_iter=5000, tol=1e-5, random_state=seed)),
    ])


def cv_auc(frame: pd.DataFrame, features: list[str], seed: int, c: float = 1.0,
           l1_ratio: float = 0.5) -> float:
    """Mean 5-fold stratified CV AUC on `frame` (the training split)."""
    folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        scores = cross_val_score(make_pipeline(seed, c, l1_ratio), frame[features].to_numpy(),
                                 frame["label"].to_numpy(), cv=folds, scoring="roc_auc")
    return float(np.mean(scores))


def select_features(train: pd.DataFrame, seed: int, log) -> tuple[list[str], list[dict]]:
    """Greedy selection by CV AUC on the training split: add candidates, then prune.

    Starts from the brief's base set; a feature is added when it raises CV AUC by more than
    SELECTION_MIN_GAIN, and removed while the CV AUC without it stays within
    SELECTION_DROP_TOLERANCE of the best seen (each feature costs encrypted work). Returns the chosen list and the trace of every step.
    """
    chosen = list(BASE_FEATURES)
    trace = [{"step": "start", "features": list(chosen), "cv_auc": cv_auc(train, chosen, seed)}]
    best = trace[0]["cv_auc"]
    log(f"  base set: CV AUC {best:.4f}")
    while len(chosen) < MAX_FEATURES:
        others = [f for f in CANDIDATES if f not in chosen]
        scored = [(cv_auc(train, chosen + [f], seed), f) for f in others]
        score, feature = max(scored)
        if score - best <= SELECTION_MIN_GAIN:
            break
        chosen.append(feature)
        best = score
        trace.append({"step": f"add {feature}", "features": list(chosen), "cv_auc": score})
        log(f"  + {feature}: CV AUC {score:.4f}")
    improved = True
    while improved and len(chosen) > 1:
        improved = False
        scored = [(cv_auc(train, [g for g in chosen if g != f], seed), f) for f in chosen]
        score, feature = max(scored)
        # Compare with the best score seen so far, so repeated drops cannot add up to a loss.
        if score >= best - SELECTION_DROP_TOLERANCE:
            chosen.remove(feature)
            best = max(best, score)
            trace.append({"step": f"drop {feature}", "features": list(chosen), "cv_auc": score})
            log(f"  - {feature}: CV AUC {score:.4f}")
            improved = True
    return chosen, trace


def tune_hyperparameters(train: pd.DataFrame, features: list[str], seed: int, log) -> dict:
    """Grid over C and l1_ratio by CV AUC on the training split."""
    results = []
    for c in C_GRID:
        for l1 in L1_RATIO_GRID:
            score = cv_auc(train, features, seed, c, l1)
            results.append({"C": c, "l1_ratio": l1, "cv_auc": score})
            log(f"  C={c:<5} l1_ratio={l1:<4} CV AUC {score:.4f}")
    return max(results, key=lambda r: (r["cv_auc"], -r["C"]))
