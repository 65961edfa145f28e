"""The choices behind model v2, measured on the training split only (nothing held back).

    python -m training.alternatives [--seed 20261125]

Writes `training/reports/alternatives.json`, which the model card quotes:
- the recipe shipped (all screening items, signs constrained) against the alternatives
  rejected — risk factors only (no symptom or self-rated-health item), and no sign
  constraints — each by nested CV (selection and tuning inside 5 outer folds);
- Platt against isotonic calibration (fit / calibrate / evaluate on rotating CV folds);
- women's AUC: the shipped features in women, and a model fitted on women only;
- the chest-pain item for under-40s, whom NHANES does not ask: how many would be flagged if
  they all answered "yes", with the answer counted from 40 (shipped) or at every age.
"""
from __future__ import annotations

import argparse
import json
import warnings
from pathlib import Path

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import brier_score_loss, roc_auc_score
from sklearn.model_selection import StratifiedKFold

from training.metrics import expected_calibration_error
from training.modeling import cv_auc, make_pipeline, nested_cv_auc, signs_of
from training.spec import CANDIDATES, SYMPTOM_FEATURES, build_cohort
from training.train import DEFAULT_OUT, DEFAULT_SEED, load_extract, split

OUT = Path(__file__).resolve().parent / "reports" / "alternatives.json"


def _fit(frame, features, seed, c=0.01):
    pipeline = make_pipeline(seed, c, 0.0, signs_of(features))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        pipeline.fit(frame[features].to_numpy(), frame["label"].to_numpy())
    return pipeline


def calibration_comparison(train, features, seed) -> dict:
    """Per fold k: fit on three folds, calibrate on fold k+1, evaluate on fold k."""
    x, y = train[features].to_numpy(), train["label"].to_numpy()
    folds = [held for _, held in StratifiedKFold(5, shuffle=True, random_state=seed).split(x, y)]
    scores: dict[str, list[list[float]]] = {"platt": [], "isotonic": []}
    for k in range(5):
        evaluate, calibrate = folds[k], folds[(k + 1) % 5]
        fit = np.setdiff1d(np.arange(len(y)), np.concatenate([evaluate, calibrate]))
        pipeline = _fit(train.iloc[fit], features, seed)
        p_cal = pipeline.predict_proba(x[calibrate])[:, 1]
        p_eval = pipeline.predict_proba(x[evaluate])[:, 1]
        iso = IsotonicRegression(out_of_bounds="clip").fit(p_cal, y[calibrate])
        logit = lambda p: np.log(p / (1 - p)).reshape(-1, 1)  # noqa: E731
        platt = LogisticRegression(C=1e6).fit(logit(p_cal), y[calibrate])
        for name, p in (("isotonic", iso.predict(p_eval)),
                        ("platt", platt.predict_proba(logit(p_eval))[:, 1])):
            scores[name].append([roc_auc_score(y[evaluate], p), brier_score_loss(y[evaluate], p),
                                 expected_calibration_error(y[evaluate], p)])
    return {name: dict(zip(("auc", "brier", "ece"), np.round(np.mean(v, axis=0), 4).tolist(),
                           strict=True))
            for name, v in scores.items()}


def women(train, features, seed) -> dict:
    """CV AUC in women: the shipped features fitted on everyone vs fitted on women only."""
    y = train["label"].to_numpy()
    is_woman = (train["male"] == 0).to_numpy()
    pooled, alone = [], []
    for fit, held in StratifiedKFold(5, shuffle=True, random_state=seed).split(train, y):
        held_women = held[is_woman[held]]
        everyone = _fit(train.iloc[fit], features, seed)
        pooled.append(roc_auc_score(y[held_women], everyone.predict_proba(
            train.iloc[held_women][features].to_numpy())[:, 1]))
        own = [f for f in features if f != "male"]
        fit_women = fit[is_woman[fit]]
        women_only = _fit(train.iloc[fit_women], own, seed)
        alone.append(roc_auc_score(y[held_women], women_only.predict_proba(
            train.iloc[held_women][own].to_numpy())[:, 1]))
    return {"cv_auc_women_pooled_model": round(float(np.mean(pooled)), 4),
            "cv_auc_women_women_only_model": round(float(np.mean(alone)), 4),
            "women": int(is_woman.sum()), "women_with_cvd": int(y[is_woman].sum())}


def under_40_chest_pain(train, model_doc: dict) -> dict:
    """Under-40s of the training split scored with chest pain "no" (as NHANES records them)
    and "yes", by the release as shipped (the answer counts from 40) and by the same release
    with the answer counted at every age (the rejected alternative)."""
    import copy

    from training.evaluate import model_from_json

    ungated = copy.deepcopy(model_doc)
    for f in ungated["features"]:
        f.pop("counts_from", None)
    names = [f["name"] for f in model_doc["features"]]
    young = train[train["age"] < 40]
    x = young[names].fillna(model_doc["training"]["imputation_medians"]).to_numpy(dtype=float)
    out: dict[str, float] = {"under_40": int(len(young)),
                             "under_40_with_cvd": int(young["label"].sum())}
    for label, doc in (("shipped", model_doc), ("counted_at_every_age", ungated)):
        model = model_from_json(doc)
        for answer in (0.0, 1.0):
            rows = x.copy()
            if "chest_pain_ever" in names:
                rows[:, names.index("chest_pain_ever")] = answer
            flagged = float(np.mean([model.run(list(r))["high"] for r in rows]))
            out[f"{label}_flagged_if_all_answer_{'yes' if answer else 'no'}"] = round(flagged, 4)
    return out


def free_signs_on_train(train, seed) -> dict:
    """The free recipe (no sign constraint) selected and fitted on the whole training split:
    its standardized coefficients."""
    from training.modeling import select_features, tune_hyperparameters

    features, _ = select_features(train, seed, lambda _line: None, list(CANDIDATES), False)
    best = tune_hyperparameters(train, features, seed, lambda _line: None, False)
    pipeline = make_pipeline(seed, best["C"], best["l1_ratio"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        pipeline.fit(train[features].to_numpy(), train["label"].to_numpy())
    coefficients = pipeline.named_steps["lr"].coef_[0]
    return {f: round(float(b), 4) for f, b in zip(features, coefficients, strict=True)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    args = parser.parse_args()
    seed = args.seed
    train, _, _ = split(build_cohort(load_extract()), seed)
    doc = json.loads((DEFAULT_OUT / "model.json").read_text())
    features = [f["name"] for f in doc["features"]]
    everything = list(CANDIDATES)
    risk_factors = [f for f in everything if f not in SYMPTOM_FEATURES]
    recipes = {}
    for name, pool, constrained in (("shipped: all items, signs constrained", everything, True),
                                    ("rejected: risk factors only, signs constrained",
                                     risk_factors, True),
                                    ("rejected: all items, signs free", everything, False),
                                    ("rejected: risk factors only, signs free", risk_factors,
                                     False)):
        r = nested_cv_auc(train, seed, pool, constrained)
        recipes[name] = {"nested_cv_auc": round(r["auc_mean"], 4), "sd": round(r["auc_sd"], 4),
                         "fold_features": r["fold_features"]}
        print(f"{name}: nested CV AUC {r['auc_mean']:.4f} (SD {r['auc_sd']:.4f})", flush=True)
    out = {
        "seed": seed,
        "recipes": recipes,
        "shipped_features_cv_auc": round(cv_auc(train, features, seed, 0.01, 0.0, True), 4),
        "shipped_features_free_signs_cv_auc": round(cv_auc(train, features, seed, 0.01, 0.0), 4),
        "free_signs_fitted_on_train": free_signs_on_train(train, seed),
        "calibration": calibration_comparison(train, features, seed),
        "women": women(train, features, seed),
        "under_40_chest_pain": under_40_chest_pain(train, doc),
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    tmp = OUT.with_suffix(".tmp")
    tmp.write_text(json.dumps(out, indent=2) + "\n")
    tmp.replace(OUT)
    print(json.dumps({k: v for k, v in out.items() if k != "recipes"}, indent=2))


if __name__ == "__main__":
    main()
