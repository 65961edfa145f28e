"""Score an NHANES cycle with an exported model's integer pipeline (external validation).

    python -m training.evaluate --data DIR --model models/cvd-lr/v1/model.json

DIR holds demographic/examination/labs/questionnaire as CSV (same variable names) or the CDC's
XPT files. The cohort and label definitions are those of training; rows with a missing
predictor are imputed with the medians stored in model.json. Prints AUC (95% CI), recall and
precision at the model's threshold, Brier score and calibration.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from training import metrics as M
from training.integer_pipeline import IntegerModel
from training.spec import build_cohort, load_merged


def model_from_json(doc: dict) -> IntegerModel:
    """The integer pipeline of a model.json."""
    return IntegerModel.from_doc(doc)


def evaluate(data: Path, model_path: Path, seed: int = 1) -> dict:
    """Metrics of the model's integer pipeline on the cohort built from `data`."""
    doc = json.loads(model_path.read_text())
    model = model_from_json(doc)
    cohort = build_cohort(load_merged(data))
    names = [f["name"] for f in doc["features"]]
    medians = doc["training"]["imputation_medians"]
    x = cohort[names].fillna(medians).to_numpy(dtype=float)
    y = cohort["label"].to_numpy()
    p = np.array([model.run(list(row))["p"] for row in x]) / doc["probability_scale"]
    out = M.bootstrap(y, p, doc["threshold"] / doc["probability_scale"], seed)
    out["n"], out["positives"] = int(len(y)), int(y.sum())
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--model", type=Path, required=True)
    args = parser.parse_args()
    r = evaluate(args.data, args.model)
    print(f"cohort: {r['n']} adults, {r['positives']} with CVD")
    for k in ("auc", "recall", "precision", "specificity", "brier", "ece"):
        v = r[k]
        print(f"{k:12s} {v['value']:.4f}  (95% CI {v['ci95'][0]:.4f}-{v['ci95'][1]:.4f})")


if __name__ == "__main__":
    main()
