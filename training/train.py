"""Rebuild the default model from the committed NHANES extract, end to end.

    python -m training.train [--out models/cvd-lr/v1] [--seed 20261125]

Steps (each printed as it runs): verify the extract's sha256, build the cohort, split
train/calibration/test (stratified, fixed seed), select features and tune the Elastic Net by CV
on train (SMOTE inside the folds), fit, quantize to the integer pipeline, calibrate (isotonic on
the calibration split), pick the threshold on the calibration split for recall >= 0.95, then
touch the test split once for the final report. Same seed -> byte-identical model.json.
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
from sklearn.isotonic import IsotonicRegression
from sklearn.model_selection import train_test_split

from training import metrics as M
from training.extract import EXTRACT, EXTRACT_SHA256, sha256_file
from training.export import export_release
from training.integer_pipeline import IntegerModel, choose_linear_layout, logit_bounds
from training.modeling import make_pipeline, select_features, tune_hyperparameters
from training.spec import CANDIDATES, build_cohort

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
DEFAULT_OUT = REPO / "models" / "cvd-lr" / "v1"
DEFAULT_SEED = 20261125
SCHEMA_VERSION = 1
MODEL_ID = "cvd-lr"
MODEL_VERSION = 1
WEIGHT_SCALE = 4096
PROBABILITY_SCALE = 4096
CONTINUOUS_BITS = 6
INDEX_BITS = 8
GUARD_DIGITS = 1
MAX_SEGMENTS = 16
TARGET_RECALL = 0.95
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
    train, rest = train_test_split(cohort, test_size=0.4, stratify=cohort["label"], random_state=seed)
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
        else:
            column = train[name].fillna(medians[name])
            lo = _round_sig(float(column.quantile(CLAMP_QUANTILES[0])))
            hi = _round_sig(float(column.quantile(CLAMP_QUANTILES[1])))
            bits = CONTINUOUS_BITS
        specs.append({
            "name": name, "unit": spec.unit, "kind": spec.kind, "description": spec.description,
            "plausible_min": spec.plausible[0], "plausible_max": spec.plausible[1],
            "clamp_min": lo, "clamp_max": hi, "bits": bits,
        })
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


def limit_segments(lut: list[int], max_segments: int) -> list[int]:
    """Merge the closest adjacent probability levels until at most `max_segments` remain.

    The encrypted engine evaluates the table through a segment number of at most 4 bits; the
    merged level is the mean of the two (table stays monotone non-decreasing).
    """
    lut = list(lut)
    while len(set(lut)) > max_segments:
        levels = sorted(set(lut))
        gaps = [(levels[i + 1] - levels[i], i) for i in range(len(levels) - 1)]
        _, i = min(gaps)
        a, b = levels[i], levels[i + 1]
        merged = (a + b) // 2
        lut = [merged if v in (a, b) else v for v in lut]
    return lut


def build_lut(iso: IsotonicRegression, grain_shift: int, offset: int, shift: int) -> list[int]:
    """p for each index bin: isotonic(sigmoid(logit at the bin's centre)), units of 1/4096."""
    lut = []
    for i in range(1 << INDEX_BITS):
        centre = ((i + 0.5) * (1 << shift) - offset) * (1 << grain_shift) / WEIGHT_SCALE
        prob = 1.0 / (1.0 + math.exp(-centre))
        lut.append(int(round(float(iso.predict([prob])[0]) * PROBABILITY_SCALE)))
    for i in range(1, len(lut)):  # guard against float noise breaking monotonicity
        lut[i] = max(lut[i], lut[i - 1])
    return limit_segments(lut, MAX_SEGMENTS)


def choose_threshold(p_cal: np.ndarray, y_cal: np.ndarray, levels: list[int]) -> int:
    """Largest table level t with recall(p >= t) >= TARGET_RECALL on the calibration split."""
    best = min(levels)
    for t in sorted(set(levels)):
        predicted = p_cal >= t
        recall = predicted[y_cal == 1].mean()
        if recall >= TARGET_RECALL:
            best = t
    return int(best)


def raw_matrix(frame: pd.DataFrame, features: list[str], medians: dict) -> np.ndarray:
    """Feature matrix with the training medians filled in (the documented missing-value policy)."""
    return frame[features].fillna({f: medians[f] for f in features}).to_numpy(dtype=float)


# The modules whose code determines model.json (cohort, selection and fit, quantization,
# metrics recorded in the file, export and its golden vectors). Not report.py (plots, model card), evaluate.py or the
# tests: they cannot change a released model.
MODEL_DETERMINING_MODULES = ("spec.py", "modeling.py", "integer_pipeline.py", "metrics.py",
                             "circuit_limits.py", "golden_edges.py", "export.py", "train.py")


def normalized_source(source: str) -> str:
    """The code of a module without comments, docstrings or layout: its parsed syntax tree.

    Editing a comment or a docstring leaves it unchanged; changing what runs does not.
    """
    tree = ast.parse(source)
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (isinstance(body, list) and body and isinstance(body[0], ast.Expr)
                and isinstance(body[0].value, ast.Constant) and isinstance(body[0].value.value, str)):
            node.body = body[1:] or [ast.Pass()]
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
    progress = Progress(9 if report else 8)
    progress("verify extract and build cohort")
    cohort = build_cohort(load_extract())
    train, cal, test = split(cohort, seed)
    if shuffle_test_labels:
        test = test.assign(label=np.random.default_rng(0).permutation(test["label"].to_numpy()))
    progress.log(f"  cohort {len(cohort)} adults, {int(cohort.label.sum())} with CVD; "
                 f"train {len(train)} / calibration {len(cal)} / test {len(test)}")

    progress("feature selection (5-fold CV on train, SMOTE in folds)")
    features, selection_trace = select_features(train, seed, progress.log)

    progress("hyper-parameters (5-fold CV on train)")
    best = tune_hyperparameters(train, features, seed, progress.log)

    progress("fit on train")
    medians = {f: float(train[f].median()) for f in features}
    pipeline = make_pipeline(seed, best["C"], best["l1_ratio"])
    pipeline.fit(raw_matrix(train, features, medians), train["label"].to_numpy())

    progress("quantize to the integer pipeline")
    specs = feature_specs(train, features, medians)
    weights, bias, beta, beta0 = integer_weights(pipeline, specs)
    bits = [s["bits"] for s in specs]
    grain_shift, offset, shift = choose_linear_layout(weights, bias, bits, INDEX_BITS, GUARD_DIGITS)
    lo, hi = logit_bounds(weights, bias, bits, grain_shift)

    progress("calibrate (isotonic on calibration split) and choose threshold")
    x_cal = raw_matrix(cal, features, medians)
    p_cal_float = pipeline.predict_proba(x_cal)[:, 1]
    iso = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0)
    iso.fit(p_cal_float, cal["label"].to_numpy())
    lut = build_lut(iso, grain_shift, offset, shift)
    model = IntegerModel([s["clamp_min"] for s in specs], [s["clamp_max"] for s in specs], bits,
                         weights, bias, grain_shift, offset, shift, INDEX_BITS, lut, 0)
    p_cal_q = np.array([model.run(list(row))["p"] for row in x_cal])
    model.threshold = choose_threshold(p_cal_q, cal["label"].to_numpy(), lut)

    progress("final report on the test split (touched once)")
    x_test = raw_matrix(test, features, medians)
    y_test = test["label"].to_numpy()
    runs = [model.run(list(row)) for row in x_test]
    p_test_q = np.array([r["p"] for r in runs]) / PROBABILITY_SCALE
    p_test_float = pipeline.predict_proba(x_test)[:, 1]
    p_test_cal = iso.predict(p_test_float)
    threshold_p = model.threshold / PROBABILITY_SCALE
    test_metrics = M.report(y_test, p_test_q, p_test_cal, p_test_float, threshold_p, seed)
    cal_recall = float((p_cal_q >= model.threshold)[cal["label"].to_numpy() == 1].mean())
    progress.log(f"  AUC quantized {test_metrics['auc']['value']:.4f} "
                 f"[{test_metrics['auc']['ci95'][0]:.4f}, {test_metrics['auc']['ci95'][1]:.4f}], "
                 f"float calibrated {test_metrics['auc_float_calibrated']:.4f}, "
                 f"ΔAUC {test_metrics['delta_auc']:.5f}, recall {test_metrics['recall']['value']:.3f}")

    progress("export model.json and golden vectors")
    doc = {
        "schema_version": SCHEMA_VERSION,
        "model_id": MODEL_ID,
        "version": MODEL_VERSION,
        "description": "Prevalent cardiovascular disease screening aid (not a diagnosis): "
                       "calibrated logistic regression on NHANES 2013-2014 adults.",
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
            "calibration_recall_at_threshold": cal_recall,
            "cv_auc_train": best["cv_auc"],
        },
        "training": {
            "seed": seed,
            "extract_sha256": sha256_file(EXTRACT),
            "code_sha256": code_sha256(),
            "cohort": {"adults": len(cohort), "positives": int(cohort.label.sum()),
                       "train": len(train), "calibration": len(cal), "test": len(test)},
            "hyper_parameters": {"C": best["C"], "l1_ratio": best["l1_ratio"]},
            "imputation_medians": medians,
            "float_coefficients_standardized": dict(zip(features, beta)),
            "float_intercept_standardized": beta0,
            "selection": selection_trace,
        },
    }
    complete = test[features].notna().all(axis=1).to_numpy()
    golden = []
    for row, ok, seqn in zip(x_test, complete, test["SEQN"]):
        if ok and len(golden) < GOLDEN_COUNT:
            golden.append({"seqn": int(seqn), "raw": [float(v) for v in row], **model.run(list(row))})
    export_release(out, doc, {"model_id": MODEL_ID, "version": MODEL_VERSION,
                              "features": features, "vectors": golden})

    if report:
        progress("plots and model card")
        from training import report as R
        R.write_all(doc, y_test, p_test_q, p_test_cal, model.threshold / PROBABILITY_SCALE,
                    test, features)
    return doc


if __name__ == "__main__":
    main()
