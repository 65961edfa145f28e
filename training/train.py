"""Rebuild the default model from the committed NHANES extract, end to end.

    python -m training.train [--out models/cvd-lr/v2] [--seed 20261125]

Steps (each printed as it runs): verify the extract's sha256, build the cohort, split
train/calibration/test (stratified, fixed seed), estimate the whole recipe by nested CV on
train, select features and tune the sign-constrained logistic regression by CV on train (SMOTE
inside the folds), fit, quantize to the integer pipeline, calibrate (isotonic on the
calibration split), pick the threshold on the calibration split (recall >= 0.95 with a
bootstrap margin), then touch the test split once for the final report (unweighted and
survey-weighted, subgroups). Same seed -> byte-identical model.json.

v1 (models/cvd-lr/v1) was made by this module's history (Elastic Net, 14 candidates, point
threshold); it stays signed and served, and is no longer rebuilt.
"""
from __future__ import annotations

import argparse
import ast
import hashlib
import json
import math
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split

from training import metrics as M
from training.extract import EXTRACT, EXTRACT_SHA256, sha256_file
from training.export import export_release
from training.integer_pipeline import IntegerModel, choose_linear_layout, logit_bounds
from training.modeling import (make_pipeline, nested_cv_auc, select_features, signs_of,
                               tune_hyperparameters)
from training.table import BREAK_STEP, bin_probabilities, build_table
from training.threshold import choose_threshold
from training.spec import ASKED_FROM_AGE_40, CANDIDATES, build_cohort

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
DEFAULT_OUT = REPO / "models" / "cvd-lr" / "v2"
DEFAULT_SEED = 20261125
SCHEMA_VERSION = 1
MODEL_ID = "cvd-lr"
MODEL_VERSION = 2
WEIGHT_SCALE = 4096
PROBABILITY_SCALE = 4096
CONTINUOUS_BITS = 6
INDEX_BITS = 8
GUARD_DIGITS = 1
CLAMP_QUANTILES = (0.005, 0.995)
GOLDEN_COUNT = 240


class Progress:
    """Numbered step display with elapsed time (the long steps are CV and bootstrap)."""

    def __init__(self, total: int):
        self.total, self.step, self.start = total, 0, time.monotonic()

    def __call__(self, title: str) -> None:
        self.step += 1
        print(f"[{self.step}/{self.total}] {title}  (+{time.monotonic() - self.start:.1f}s)",
              flush=True)

    @staticmethod
    def log(line: str) -> None:
        print(line, flush=True)


def load_extract() -> pd.DataFrame:
    """Read the committed extract after checking it against its recorded sha256."""
    expected = EXTRACT_SHA256.read_text().split()[0]
    actual = sha256_file(EXTRACT)
    if actual != expected:
        raise SystemExit(f"extract {EXTRACT} has sha256 {actual}, expected {expected}")
    return pd.read_csv(EXTRACT)


def split(cohort: pd.DataFrame, seed: int) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Stratified 60 / 20 / 20 train / calibration / test split."""
    train, rest = train_test_split(cohort, test_size=0.4, stratify=cohort["label"],
                                   random_state=seed)
    cal, test = train_test_split(rest, test_size=0.5, stratify=rest["label"], random_state=seed)
    return train.reset_index(drop=True), cal.reset_index(drop=True), test.reset_index(drop=True)


def _round_sig(value: float, digits: int = 4) -> float:
    return float(f"{value:.{digits}g}")


def feature_specs(train: pd.DataFrame, features: list[str], medians: dict) -> list[dict]:
    """model.json feature entries: unit, plausible range, clamp range fitted on train, bits."""
    specs = []
    for name in features:
        spec = CANDIDATES[name]
        if spec.kind == "binary":
            lo, hi, bits = 0.0, 1.0, 1
        elif spec.kind == "ordinal":
            # Every answer keeps its own code: the whole answer range, enough bits for it.
            lo, hi = spec.plausible
            bits = max(1, math.ceil(math.log2(len(spec.answers))))
        else:
            column = train[name].fillna(medians[name])
            lo = _round_sig(float(column.quantile(CLAMP_QUANTILES[0])))
            hi = _round_sig(float(column.quantile(CLAMP_QUANTILES[1])))
            bits = CONTINUOUS_BITS
        entry = {
            "name": name, "unit": spec.unit, "kind": spec.kind, "description": spec.description,
            "plausible_min": spec.plausible[0], "plausible_max": spec.plausible[1],
            "clamp_min": lo, "clamp_max": hi, "bits": bits,
        }
        if spec.answers:
            entry["answers"] = list(spec.answers)
        if name in ASKED_FROM_AGE_40:
            # Trained on NHANES, which asks it from 40 only; younger answers do not count.
            entry["counts_from"] = {"feature": "age", "at_least": 40.0}
        specs.append(entry)
    return specs


def integer_weights(pipeline, specs: list[dict]) -> tuple[list[int], int, list[float], float]:
    """Fold imputation-free scaling into per-code-unit integer weights at scale 4096.

    The float model computes beta0 + sum beta_f (v_f - mu_f) / sigma_f. With
    v_f = lo_f + x_f (hi_f - lo_f) / L_f this is a bias plus w_f x_f.
    """
    scaler, lr = pipeline.named_steps["scale"], pipeline.named_steps["lr"]
    beta, beta0 = lr.coef_[0], float(lr.intercept_[0])
    weights, bias = [], beta0
    for f, spec in enumerate(specs):
        levels = (1 << spec["bits"]) - 1
        step = (spec["clamp_max"] - spec["clamp_min"]) / levels
        per_code = beta[f] * step / scaler.scale_[f]
        weights.append(per_code)
        bias += beta[f] * (spec["clamp_min"] - scaler.mean_[f]) / scaler.scale_[f]
    return [int(round(w * WEIGHT_SCALE)) for w in weights], int(round(bias * WEIGHT_SCALE)), \
        [float(b) for b in beta], beta0


def fit_platt(p_float: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Platt calibration on the calibration split: p = sigmoid(a * logit(p_float) + b).

    Two parameters instead of v1's isotonic step function: with ~80 positives the isotonic
    fit's flat steps cost ranking (rotating CV folds of train, `training.alternatives`:
    AUC 0.878 vs 0.870, Brier 0.063 vs 0.065; ECE 0.025 vs 0.022). It also undoes the
    prevalence shift SMOTE causes.
    """
    logit = np.log(p_float / (1.0 - p_float))
    lr = LogisticRegression(C=1e6, max_iter=1000).fit(logit.reshape(-1, 1), y)
    return float(lr.coef_[0][0]), float(lr.intercept_[0])


def raw_matrix(frame: pd.DataFrame, features: list[str], medians: dict) -> np.ndarray:
    """Feature matrix with the training medians filled in (the documented missing-value policy)."""
    return frame[features].fillna({f: medians[f] for f in features}).to_numpy(dtype=float)


# The modules whose code determines model.json (cohort, selection and fit, quantization,
# metrics recorded in the file, export and its golden vectors). Not report.py (plots, model
# card), evaluate.py or the tests: they cannot change a released model.
MODEL_DETERMINING_MODULES = ("spec.py", "modeling.py", "constrained.py", "integer_pipeline.py",
                             "metrics.py", "table.py", "threshold.py", "circuit_limits.py",
                             "golden_edges.py", "export.py", "train.py")


def normalized_source(source: str) -> str:
    """The code of a module without comments, docstrings or layout: its parsed syntax tree.

    Editing a comment or a docstring leaves it unchanged; changing what runs does not.
    """
    tree = ast.parse(source)
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (isinstance(body, list) and body and isinstance(body[0], ast.Expr)
                and isinstance(body[0].value, ast.Constant)
                and isinstance(body[0].value.value, str)):
            node.body = body[1:] or [ast.Pass()]  # type: ignore[attr-defined]  # has a body
    return ast.dump(tree, include_attributes=False)


def code_sha256() -> str:
    """Hash of the code that determines the model (see MODEL_DETERMINING_MODULES), recorded in
    model.json. Deterministic, unlike a commit id, and blind to comments and docstrings."""
    digest = hashlib.sha256()
    for name in MODEL_DETERMINING_MODULES:
        digest.update(name.encode())
        digest.update(normalized_source((HERE / name).read_text()).encode())
    return digest.hexdigest()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--no-report", action="store_true", help="skip plots and model card")
    args = parser.parse_args()
    run(args.out, args.seed, report=not args.no_report)


def run(out: Path, seed: int, report: bool = True, shuffle_test_labels: bool = False) -> dict:
    """The whole pipeline; returns the model dict that was written.

    `shuffle_test_labels` exists for the leakage test: the fitted model must not change.
    """
    progress = Progress(10 if report else 9)
    progress("verify extract and build cohort")
    cohort = build_cohort(load_extract())
    train, cal, test = split(cohort, seed)
    if shuffle_test_labels:
        test = test.assign(label=np.random.default_rng(0).permutation(test["label"].to_numpy()))
    progress.log(f"  cohort {len(cohort)} adults, {int(cohort.label.sum())} with CVD; "
                 f"train {len(train)} / calibration {len(cal)} / test {len(test)}")

    progress("nested CV of the whole recipe (selection and tuning inside 5 outer folds of train)")
    nested = nested_cv_auc(train, seed, list(CANDIDATES), constrained=True, log=progress.log)
    progress.log(f"  nested CV AUC {nested['auc_mean']:.4f} (SD {nested['auc_sd']:.4f})")

    progress("feature selection (5-fold CV on train, SMOTE in folds, signs constrained)")
    features, selection_trace = select_features(train, seed, progress.log, list(CANDIDATES),
                                                constrained=True)

    progress("hyper-parameters (5-fold CV on train)")
    best = tune_hyperparameters(train, features, seed, progress.log, constrained=True)

    progress("fit on train")
    medians = {f: float(train[f].median()) for f in features}
    pipeline = make_pipeline(seed, best["C"], best["l1_ratio"], signs_of(features))
    pipeline.fit(raw_matrix(train, features, medians), train["label"].to_numpy())

    progress("quantize to the integer pipeline")
    specs = feature_specs(train, features, medians)
    weights, bias, beta, beta0 = integer_weights(pipeline, specs)
    bits = [s["bits"] for s in specs]
    grain_shift, offset, shift = choose_linear_layout(weights, bias, bits, INDEX_BITS, GUARD_DIGITS)
    lo, hi = logit_bounds(weights, bias, bits, grain_shift)

    progress("calibrate (Platt on calibration split) and choose threshold")
    x_cal = raw_matrix(cal, features, medians)
    p_cal_float = pipeline.predict_proba(x_cal)[:, 1]
    platt = fit_platt(p_cal_float, cal["label"].to_numpy())
    gates = [(features.index(s["counts_from"]["feature"]), s["counts_from"]["at_least"])
             if "counts_from" in s else None for s in specs]
    model = IntegerModel([s["clamp_min"] for s in specs], [s["clamp_max"] for s in specs], bits,
                         weights, bias, grain_shift, offset, shift, INDEX_BITS,
                         [0] * (1 << INDEX_BITS), 0, gates)
    train_index = np.array([model.run(list(row))["index"]
                            for row in raw_matrix(train, features, medians)])
    # The alarm bin first (calibration split, bootstrap margin), then the table's levels
    # with a level starting exactly there.
    index_cal = np.array([model.run(list(row))["index"] for row in x_cal])
    threshold = choose_threshold(index_cal, cal["label"].to_numpy(),
                                 list(range(0, 1 << INDEX_BITS, BREAK_STEP)), seed)
    probs = bin_probabilities(platt, grain_shift, offset, shift, INDEX_BITS, WEIGHT_SCALE)
    lut = build_table(probs, train_index, train["label"].to_numpy(), PROBABILITY_SCALE,
                      threshold["bin"])
    model.lut = lut
    model.threshold = lut[threshold["bin"]]
    if threshold["bin"] > 0 and lut[threshold["bin"] - 1] >= model.threshold:
        raise SystemExit("the table has no level boundary at the threshold bin")
    progress.log(f"  threshold bin {threshold['bin']} = level {model.threshold}/4096: "
                 f"calibration recall {threshold['calibration_recall']:.3f}, specificity "
                 f"{threshold['calibration_specificity']:.3f}; point rule would take bin "
                 f"{threshold['point_rule_bin']} (specificity "
                 f"{threshold['point_rule_specificity']:.3f})")

    progress("final report on the test split (touched once)")
    x_test = raw_matrix(test, features, medians)
    y_test = test["label"].to_numpy()
    runs = [model.run(list(row)) for row in x_test]
    p_test_q = np.array([r["p"] for r in runs]) / PROBABILITY_SCALE
    p_test_float = pipeline.predict_proba(x_test)[:, 1]
    logit_test_float = np.log(p_test_float / (1.0 - p_test_float))
    logit_test_integer = np.array([r["logit"] for r in runs])
    threshold_p = model.threshold / PROBABILITY_SCALE
    test_metrics = M.report(y_test, p_test_q, logit_test_integer, logit_test_float, threshold_p,
                            seed)
    test_metrics["survey"] = M.survey_report(y_test, p_test_q, test["exam_weight"].to_numpy(),
                                             threshold_p, seed)
    test_metrics["subgroups"] = M.subgroups(test, y_test, p_test_q, threshold_p)
    progress.log(f"  AUC quantized {test_metrics['auc']['value']:.4f} "
                 f"[{test_metrics['auc']['ci95'][0]:.4f}, {test_metrics['auc']['ci95'][1]:.4f}], "
                 f"float {test_metrics['auc_float']:.4f}, "
                 f"ΔAUC {test_metrics['delta_auc']:.5f}, "
                 f"recall {test_metrics['recall']['value']:.3f}, "
                 f"Brier {test_metrics['brier']['value']:.4f}, "
                 f"ECE {test_metrics['ece']['value']:.4f}")

    progress("export model.json and golden vectors")
    doc = {
        "schema_version": SCHEMA_VERSION,
        "model_id": MODEL_ID,
        "version": MODEL_VERSION,
        "description": "Prevalent cardiovascular disease screening aid (not a diagnosis): "
                       "calibrated, sign-constrained logistic regression on NHANES 2013-2014 "
                       "adults.",
        "features": specs,
        "quantization": {
            "input_rule": "x = floor((clamp(v, clamp_min, clamp_max) - clamp_min) * (2^bits - 1)"
                          " / (clamp_max - clamp_min) + 0.5), binary64 in this order",
            "digit_bits": 2,
            "weight_scale": WEIGHT_SCALE,
        },
        "weights": weights,
        "bias": bias,
        "linear": {
            "mode": "per_digit_rounded",
            "rule": "c = sign(w) * ((|w| * d * 4^j) >> s) per base-4 digit d at position j; "
                    "logit = ((bias + 2^(s-1)) >> s) + sum c",
            "grain_shift": grain_shift,
            "logit_min": lo,
            "logit_max": hi,
            "accumulator_bits": INDEX_BITS + shift,
        },
        "index": {"offset": offset, "shift": shift, "bits": INDEX_BITS},
        "probability_scale": PROBABILITY_SCALE,
        "lut": lut,
        "threshold": model.threshold,
        "metrics": {
            "test": test_metrics,
            "calibration_recall_at_threshold": threshold["calibration_recall"],
            "threshold_choice": threshold,
            "cv_auc_train": best["cv_auc"],
            "nested_cv_auc_train": nested,
        },
        "training": {
            "seed": seed,
            "extract_sha256": sha256_file(EXTRACT),
            "code_sha256": code_sha256(),
            "cohort": {"adults": len(cohort), "positives": int(cohort.label.sum()),
                       "train": len(train), "calibration": len(cal), "test": len(test)},
            "hyper_parameters": {"C": best["C"],
                                 "sign_constraints": dict(zip(features, signs_of(features)))},
            "calibration": {"method": "platt", "slope": platt[0], "intercept": platt[1]},
            "imputation_medians": medians,
            "float_coefficients_standardized": dict(zip(features, beta)),
            "float_intercept_standardized": beta0,
            "selection": selection_trace,
        },
    }
    complete = test[features].notna().all(axis=1).to_numpy()
    golden = []  # type: list[dict]
    for row, ok, seqn in zip(x_test, complete, test["SEQN"]):
        if ok and len(golden) < GOLDEN_COUNT:
            golden.append({"seqn": int(seqn), "raw": [float(v) for v in row],
                           **model.run(list(row))})
    export_release(out, doc, {"model_id": MODEL_ID, "version": MODEL_VERSION,
                              "features": features, "vectors": golden})

    if report:
        progress("plots and model card")
        from training import report as R
        platt_test = 1.0 / (1.0 + np.exp(-(platt[0] * logit_test_float + platt[1])))
        R.write_all(doc, y_test, p_test_q, platt_test, model.threshold / PROBABILITY_SCALE,
                    test, features)
    return doc


if __name__ == "__main__":
    main()
