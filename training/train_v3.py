"""cvd-lr v3: a lab-free pre-screen for "PREVENT 10-year total CVD risk >= 7.5 %" (issue 32).

    python -m training.train_v3 [--out models/cvd-lr/v3] [--seed 20261206] [--report PATH]

A module of its own rather than an option of `training.train`: v2's model.json records the
code hash of train.py and the modules it names (`code_sha256`), so any edit there would change
what "reproduce v2" means; and v3 differs in cohort, label, inputs and data sources, so sharing
one `run()` would mean branching at every step.

Steps: the target cohort (`training.v3_target`: adults 30-79 without known CVD, label from the
exact PREVENT equation on the cycle's own labs, missing / out-of-range people outside and
counted), complete cases on the lab-free candidates (counted), stratified 60/20/20
train / calibration / test split; then

1. nested CV of the whole recipe on train (5 outer folds; in each, the inner part is split
   75/25 into fit / calibration exactly as train / calibration are, and selection, tuning,
   fit, quantization, Platt calibration, threshold and table are redone) -> the estimates
   of every target of issue 32, from the pooled held-out predictions;
2. the same recipe once on train / calibration -> model.json and golden.json;
3. the test split, touched once, for the report.

The recipe: forward selection then pruning by 5-fold CV AUC (SMOTE inside the folds, never in
a validation fold), sign-constrained L2 logistic regression (`training.constrained`; the
Elastic Net of v1 has no sign bounds), C tuned by CV, 12-bit weights through
`training.integer_pipeline`, 6-bit continuous codes, 8-bit index, the model contract of
`training.model_contract` checked (every limit the Rust loader and circuit enforce), Platt
calibration and the threshold (recall >= 0.95 in >= 80 % of bootstrap resamples,
`training.threshold`) on the calibration split.

Same seed -> byte-identical model.json, golden.json and report. Not signed, not the default:
no Rust constant is written.
"""
from __future__ import annotations

import argparse
import math
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import StratifiedKFold, cross_val_score, train_test_split

from training import screen_metrics as S
from training.export import write_json
from training.extract import EXTRACT as V2_EXTRACT
from training.golden_edges import edge_vectors
from training.integer_pipeline import IntegerModel, choose_linear_layout, logit_bounds
from training.model_contract import ModelContractError, check_model
from training.modeling import make_pipeline
from training.prevent_cohort import EXTRACT as PREVENT_EXTRACT
from training.prevent_cohort import sha256_file
from training.table import BREAK_STEP, bin_probabilities, build_table
from training.threshold import choose_threshold
from training.train import fit_platt
from training.v3_target import (
    EQUATION_PATH,
    LAB_FEATURES,
    LAB_FREE_FEATURES,
    LAB_VARIABLES,
    build_target_cohort,
    target_record,
    training_raw,
)

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
DEFAULT_OUT = REPO / "models" / "cvd-lr" / "v3"
DEFAULT_REPORT = HERE / "reports" / "cvd-lr-v3.md"
DEFAULT_SEED = 20261206
MODEL_ID, MODEL_VERSION, SCHEMA_VERSION = "cvd-lr", 3, 1
WEIGHT_SCALE = PROBABILITY_SCALE = 4096
CONTINUOUS_BITS, INDEX_BITS, GUARD_DIGITS = 6, 8, 1
CLAMP_QUANTILES = (0.005, 0.995)
C_GRID = (0.01, 0.1, 1.0)
MIN_GAIN, DROP_TOLERANCE, MAX_FEATURES = 0.002, 0.0005, 10
GOLDEN_COUNT = 240
OUTER_FOLDS = 5

CANDIDATES = list(LAB_FREE_FEATURES)


def check_lab_free(features: list[str]) -> None:
    """Refuse a feature list with a lab value, by name or by raw source."""
    for name in features:
        if name in LAB_FEATURES or name not in LAB_FREE_FEATURES:
            raise ValueError(f"feature `{name}` is not a lab-free v3 input")
        if set(LAB_FREE_FEATURES[name].sources) & set(LAB_VARIABLES):
            raise ValueError(f"feature `{name}` is made from a lab variable")


def signs_of(features: list[str]) -> tuple[int, ...]:
    return tuple(LAB_FREE_FEATURES[f].sign for f in features)


def cv_auc(frame: pd.DataFrame, features: list[str], seed: int, c: float = 1.0) -> float:
    """Mean 5-fold stratified CV AUC, SMOTE inside the training folds, signs constrained."""
    if not features:
        return 0.5
    folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        scores = cross_val_score(make_pipeline(seed, c, 0.0, signs_of(features)),
                                 frame[features].to_numpy(dtype=float),
                                 frame["label"].to_numpy(), cv=folds, scoring="roc_auc")
    return float(np.mean(scores))


def select_features(frame: pd.DataFrame, seed: int) -> tuple[list[str], list[dict]]:
    """Forward selection from nothing (a candidate joins for a CV-AUC gain > MIN_GAIN), then
    pruning (a feature leaves while the CV AUC without it stays within DROP_TOLERANCE)."""
    chosen: list[str] = []
    best = 0.5
    trace = []
    while len(chosen) < MAX_FEATURES:
        others = [f for f in CANDIDATES if f not in chosen]
        if not others:
            break
        gain, feature = max((cv_auc(frame, chosen + [f], seed), f) for f in others)
        if gain - best <= MIN_GAIN:
            break
        chosen.append(feature)
        best = gain
        trace.append({"step": f"add {feature}", "cv_auc": round(gain, 6)})
    while len(chosen) > 1:
        kept, feature = max((cv_auc(frame, [g for g in chosen if g != f], seed), f)
                            for f in chosen)
        if kept < best - DROP_TOLERANCE:
            break
        chosen.remove(feature)
        best = max(best, kept)
        trace.append({"step": f"drop {feature}", "cv_auc": round(kept, 6)})
    check_lab_free(chosen)
    return chosen, trace


def _round_sig(value: float, digits: int = 4) -> float:
    return float(f"{value:.{digits}g}")


def feature_specs(fit: pd.DataFrame, features: list[str]) -> list[dict]:
    specs = []
    for name in features:
        f = LAB_FREE_FEATURES[name]
        if f.kind == "binary":
            lo, hi, bits = 0.0, 1.0, 1
        else:
            lo = max(_round_sig(float(fit[name].quantile(CLAMP_QUANTILES[0]))), f.plausible[0])
            hi = min(_round_sig(float(fit[name].quantile(CLAMP_QUANTILES[1]))), f.plausible[1])
            bits = CONTINUOUS_BITS
        specs.append({"name": name, "unit": f.unit, "kind": f.kind, "description": f.description,
                      "plausible_min": f.plausible[0], "plausible_max": f.plausible[1],
                      "clamp_min": lo, "clamp_max": hi, "bits": bits})
    return specs


def integer_weights(pipeline, specs: list[dict]) -> tuple[list[int], int, list[float], float]:
    """Scaling folded into per-code-unit integer weights at scale 4096 (as v2)."""
    scaler, lr = pipeline.named_steps["scale"], pipeline.named_steps["lr"]
    beta, beta0 = lr.coef_[0], float(lr.intercept_[0])
    weights, bias = [], beta0
    for f, spec in enumerate(specs):
        step = (spec["clamp_max"] - spec["clamp_min"]) / ((1 << spec["bits"]) - 1)
        weights.append(beta[f] * step / scaler.scale_[f])
        bias += beta[f] * (spec["clamp_min"] - scaler.mean_[f]) / scaler.scale_[f]
    return ([int(round(w * WEIGHT_SCALE)) for w in weights], int(round(bias * WEIGHT_SCALE)),
            [float(b) for b in beta], beta0)


def fit_recipe(fit: pd.DataFrame, cal: pd.DataFrame, seed: int, log=lambda _l: None) -> dict:
    """The whole recipe on a fit part and a calibration part: everything a release needs."""
    features, trace = select_features(fit, seed)
    log(f"  selected: {', '.join(features)}")
    tuning = [{"C": c, "cv_auc": cv_auc(fit, features, seed, c)} for c in C_GRID]
    best = max(tuning, key=lambda r: (r["cv_auc"], -r["C"]))
    log(f"  C = {best['C']} (CV AUC {best['cv_auc']:.4f})")
    pipeline = make_pipeline(seed, best["C"], 0.0, signs_of(features))
    pipeline.fit(fit[features].to_numpy(dtype=float), fit["label"].to_numpy())
    specs = feature_specs(fit, features)
    weights, bias, beta, beta0 = integer_weights(pipeline, specs)
    bits = [s["bits"] for s in specs]
    grain_shift, offset, shift = choose_linear_layout(weights, bias, bits, INDEX_BITS, GUARD_DIGITS)
    lo, hi = logit_bounds(weights, bias, bits, grain_shift)
    model = IntegerModel([s["clamp_min"] for s in specs], [s["clamp_max"] for s in specs], bits,
                         weights, bias, grain_shift, offset, shift, INDEX_BITS,
                         [0] * (1 << INDEX_BITS), 0, [None] * len(specs))
    x_cal = cal[features].to_numpy(dtype=float)
    platt = fit_platt(pipeline.predict_proba(x_cal)[:, 1], cal["label"].to_numpy())
    index_cal = np.array([model.run(list(r))["index"] for r in x_cal])
    threshold = choose_threshold(index_cal, cal["label"].to_numpy(),
                                 list(range(0, 1 << INDEX_BITS, BREAK_STEP)), seed)
    fit_index = np.array([model.run(list(r))["index"] for r in fit[features].to_numpy(dtype=float)])
    probs = bin_probabilities(platt, grain_shift, offset, shift, INDEX_BITS, WEIGHT_SCALE)
    model.lut = build_table(probs, fit_index, fit["label"].to_numpy(), PROBABILITY_SCALE,
                            threshold["bin"])
    model.threshold = model.lut[threshold["bin"]]
    if threshold["bin"] > 0 and model.lut[threshold["bin"] - 1] >= model.threshold:
        raise ValueError("the table has no level boundary at the threshold bin")
    return {"features": features, "trace": trace, "tuning": tuning, "C": best["C"],
            "pipeline": pipeline, "specs": specs, "weights": weights, "bias": bias,
            "beta": beta, "beta0": beta0, "grain_shift": grain_shift, "offset": offset,
            "shift": shift, "logit_range": (lo, hi), "platt": platt, "threshold": threshold,
            "model": model}


def predict(recipe: dict, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Integer-pipeline probability (table level / 4096) and alarm of each row."""
    runs = [recipe["model"].run(list(r))
            for r in frame[recipe["features"]].to_numpy(dtype=float)]
    return (np.array([r["p"] for r in runs], dtype=float) / PROBABILITY_SCALE,
            np.array([r["high"] for r in runs], dtype=bool))


def split(cohort: pd.DataFrame, seed: int, share: float):
    a, b = train_test_split(cohort, test_size=share, stratify=cohort["label"], random_state=seed)
    return a.reset_index(drop=True), b.reset_index(drop=True)


def nested_cv(train: pd.DataFrame, seed: int, log) -> dict:
    """Pooled held-out predictions of the whole recipe over 5 outer folds of train."""
    outer = StratifiedKFold(n_splits=OUTER_FOLDS, shuffle=True, random_state=seed + 1)
    parts, folds = [], []
    for k, (inner_rows, held_rows) in enumerate(outer.split(train, train["label"])):
        inner = train.iloc[inner_rows].reset_index(drop=True)
        held = train.iloc[held_rows].reset_index(drop=True)
        fit, cal = split(inner, seed, 0.25)
        recipe = fit_recipe(fit, cal, seed)
        p, flagged = predict(recipe, held)
        fold = S.target_figures(held["label"], p, flagged, held["age"], held["male"])
        folds.append({"features": recipe["features"], "recall": fold["recall"],
                      "specificity": fold["specificity"], "auc": fold["auc"]})
        log(f"  outer fold {k + 1}: recall {fold['recall']:.3f}, specificity "
            f"{fold['specificity']:.3f}, AUC {fold['auc']:.4f} "
            f"with {', '.join(recipe['features'])}")
        parts.append(held.assign(p=p, flagged=flagged))
    pooled = pd.concat(parts, ignore_index=True)
    figures = S.target_figures(pooled["label"], pooled["p"], pooled["flagged"], pooled["age"],
                               pooled["male"])
    return {"pooled": figures, "folds": folds}


def build_cohort() -> tuple[pd.DataFrame, dict]:
    """The target cohort of the committed extracts, complete cases on every candidate."""
    target = build_target_cohort(training_raw())
    frame = target.frame
    complete = frame[CANDIDATES].notna().all(axis=1)
    counts = {"aged_30_79": target.total, "excluded": target.excluded,
              "label_inputs_missing": target.missing_any, "out_of_range": target.out_of_range,
              "evaluated": len(frame), "positives": int(frame["label"].sum()),
              "candidate_missing": {f: int(frame[f].isna().sum()) for f in CANDIDATES
                                    if frame[f].isna().any()},
              "complete_cases": int(complete.sum()),
              "complete_positives": int(frame.loc[complete, "label"].sum())}
    return frame[complete].reset_index(drop=True), counts


def _r(x: float | None, digits: int = 6) -> float | None:
    return round(float(x), digits) if x is not None and not math.isnan(x) else None


def _clean(obj):
    """Round floats (6 decimals) and turn NaN into null, recursively, for JSON."""
    if isinstance(obj, float):
        return _r(obj)
    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    if isinstance(obj, (np.floating,)):
        return _r(float(obj))
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.bool_,)):
        return bool(obj)
    return obj


def run(out: Path, seed: int, report_path: Path | None = DEFAULT_REPORT, log=print) -> dict:
    log("[1/5] target cohort (PREVENT label from the extracts) and split")
    cohort, counts = build_cohort()
    train, rest = split(cohort, seed, 0.4)
    cal, test = split(rest, seed, 0.5)
    log(f"  {counts['evaluated']} evaluated ({counts['positives']} >= 7.5 %), "
        f"{len(cohort)} complete cases; train {len(train)} / calibration {len(cal)} / "
        f"test {len(test)}")

    log("[2/5] nested CV of the whole recipe on train")
    nested = nested_cv(train, seed, log)

    log("[3/5] the recipe on train / calibration")
    recipe = fit_recipe(train, cal, seed, log)
    th = recipe["threshold"]
    log(f"  threshold bin {th['bin']}: calibration recall {th['calibration_recall']:.3f}, "
        f"specificity {th['calibration_specificity']:.3f}")

    log("[4/5] test split (touched once)")
    p_test, flagged_test = predict(recipe, test)
    test_figures = S.target_figures(test["label"], p_test, flagged_test, test["age"], test["male"])
    _, ci_lo, ci_hi = S.auc_ci(test["label"].to_numpy(), p_test, seed)
    test_figures["auc_ci95"] = [ci_lo, ci_hi]

    log("[5/5] export")
    model = recipe["model"]
    features = recipe["features"]
    doc = {
        "schema_version": SCHEMA_VERSION,
        "model_id": MODEL_ID,
        "version": MODEL_VERSION,
        "description": "Lab-free pre-screen (not a diagnosis): in adults 30-79 without known "
                       "cardiovascular disease, is the PREVENT 10-year total CVD risk >= 7.5 %? "
                       "A flag means: get a lipid panel and creatinine, then compute PREVENT. "
                       "Calibrated, sign-constrained logistic regression on NHANES 2013-2014.",
        "target": target_record(),
        "features": recipe["specs"],
        "quantization": {
            "input_rule": "x = floor((clamp(v, clamp_min, clamp_max) - clamp_min) * (2^bits - 1)"
                          " / (clamp_max - clamp_min) + 0.5), binary64 in this order",
            "digit_bits": 2,
            "weight_scale": WEIGHT_SCALE,
        },
        "weights": recipe["weights"],
        "bias": recipe["bias"],
        "linear": {
            "mode": "per_digit_rounded",
            "rule": "c = sign(w) * ((|w| * d * 4^j) >> s) per base-4 digit d at position j; "
                    "logit = ((bias + 2^(s-1)) >> s) + sum c",
            "grain_shift": recipe["grain_shift"],
            "logit_min": recipe["logit_range"][0],
            "logit_max": recipe["logit_range"][1],
            "accumulator_bits": INDEX_BITS + recipe["shift"],
        },
        "index": {"offset": recipe["offset"], "shift": recipe["shift"], "bits": INDEX_BITS},
        "probability_scale": PROBABILITY_SCALE,
        "lut": model.lut,
        "threshold": model.threshold,
        "metrics": _clean({
            "nested_cv_train": nested,
            "test": test_figures,
            "threshold_choice": th,
        }),
        "training": _clean({
            "seed": seed,
            "extracts_sha256": {PREVENT_EXTRACT.name: sha256_file(PREVENT_EXTRACT),
                                V2_EXTRACT.name: sha256_file(V2_EXTRACT)},
            "equation_sha256": sha256_file(EQUATION_PATH),
            "cohort": {**counts, "train": len(train), "calibration": len(cal), "test": len(test)},
            "hyper_parameters": {"C": recipe["C"], "tuning": recipe["tuning"],
                                 "sign_constraints": dict(zip(features, signs_of(features),
                                                              strict=True))},
            "calibration": {"method": "platt", "slope": recipe["platt"][0],
                            "intercept": recipe["platt"][1]},
            "imputation_medians": {f: float(train[f].median()) for f in features},
            "float_coefficients_standardized": dict(zip(features, recipe["beta"], strict=True)),
            "float_intercept_standardized": recipe["beta0"],
            "selection": recipe["trace"],
        }),
    }
    try:
        check_model(doc)
    except ModelContractError as e:
        raise SystemExit(f"export refused: {e}") from e
    golden: list[dict] = []
    for row, seqn in zip(test[features].to_numpy(dtype=float), test["SEQN"], strict=True):
        if len(golden) < GOLDEN_COUNT:
            golden.append({"seqn": int(seqn), "raw": [float(v) for v in row],
                           **model.run(list(row))})
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "model.json", doc)
    write_json(out / "golden.json", {"model_id": MODEL_ID, "version": MODEL_VERSION,
                                     "features": features, "vectors": golden,
                                     "edges": edge_vectors(doc)})
    if report_path is not None:
        from training.report_v3 import write_report
        write_report(report_path, doc)
    return doc


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--report", type=Path, default=DEFAULT_REPORT)
    parser.add_argument("--no-report", action="store_true")
    args = parser.parse_args()
    run(args.out, args.seed, None if args.no_report else args.report)


if __name__ == "__main__":
    main()
