"""Score an NHANES cycle with a released model's integer pipeline (external validation).

    python -m training.evaluate --data DIR [--model models/cvd-lr/v2/model.json] [--json]

DIR holds a cycle's files as the CDC publishes them, with no conversion step: DEMO_J.XPT,
BPX_J.XPT, BPQ_J.XPT, MCQ_J.XPT, HUQ_J.XPT, CDQ_J.XPT, SMQ_J.XPT, DIQ_J.XPT, BMX_J.XPT,
BIOPRO_J.XPT, TCHOL_J.XPT, HDL_J.XPT, GHB_J.XPT ... (any cycle suffix, .XPT or .xpt, or one
CSV per component with the same variable names; the 2013-2014 four-CSV layout also works).
The cohort and label definitions are those of training (`training.spec`): adults >= 20,
prevalent CVD from MCQ160C/D/E/F. Blood pressure: the mean of the valid auscultatory readings
(a fourth one where the cycle took it, as 2013-2018 did), else the oscillometric readings
(2021 onwards) without conversion. Missing values are imputed with the medians stored in
model.json; a variable the cycle lacks entirely is named, and a model feature with no data at
all is reported as such (every patient then gets the training median: the figures are not a
validation of that feature).

Prints AUC, recall, specificity, precision, Brier and ECE at the model's threshold with 95%
bootstrap CIs, unweighted and weighted by the examination weights, and subgroups.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from training import metrics as M
from training.integer_pipeline import IntegerModel
from training.spec import absent_variables, build_cohort, features_without_data, load_merged

DEFAULT_MODEL = Path(__file__).resolve().parent.parent / "models" / "cvd-lr" / "v2" / "model.json"


def model_from_json(doc: dict) -> IntegerModel:
    """The integer pipeline of a model.json."""
    return IntegerModel.from_doc(doc)


def evaluate(data: Path, model_path: Path, seed: int = 1) -> dict:
    """Metrics of the model's integer pipeline on the cohort built from `data`."""
    doc = json.loads(model_path.read_text())
    model = model_from_json(doc)
    raw = load_merged(data)
    cohort = build_cohort(raw)
    names = [f["name"] for f in doc["features"]]
    medians = doc["training"]["imputation_medians"]
    no_data = features_without_data(raw, names)
    missing_share = {n: round(float(cohort[n].isna().mean()), 4) for n in names}
    x = cohort[names].fillna(medians).to_numpy(dtype=float)
    y = cohort["label"].to_numpy()
    p = np.array([model.run(list(row))["p"] for row in x]) / doc["probability_scale"]
    threshold = doc["threshold"] / doc["probability_scale"]
    out = M.bootstrap(y, p, threshold, seed)
    out["n"], out["positives"] = int(len(y)), int(y.sum())
    out["absent_variables"] = absent_variables(raw)
    out["features_without_data"] = no_data
    out["missing_share"] = missing_share
    weights = cohort["exam_weight"].to_numpy(dtype=float)
    if np.isfinite(weights).all() and (weights > 0).any():
        out["survey"] = M.survey_report(y, p, weights, threshold, seed)
    else:
        out["survey"] = None  # the cycle's files carry no examination weight
    out["subgroups"] = M.subgroups(cohort.assign(exam_weight=np.nan_to_num(weights)), y, p,
                                   threshold)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args()
    r = evaluate(args.data, args.model)
    if args.json:
        print(json.dumps(r, indent=2))
        return
    print(f"cohort: {r['n']} adults, {r['positives']} with CVD")
    if r["absent_variables"]:
        print(f"variables this cycle lacks: {', '.join(r['absent_variables'])}")
    for name in r["features_without_data"]:
        print(f"WARNING: model feature `{name}` has no data in this cycle: every patient gets "
              "the training median; the figures do not validate it")
    for k in ("auc", "recall", "specificity", "precision", "brier", "ece"):
        v = r[k]
        print(f"{k:12s} {v['value']:.4f}  (95% CI {v['ci95'][0]:.4f}-{v['ci95'][1]:.4f})")
    if r["survey"]:
        w = r["survey"]["weighted"]
        print("weighted (examination weights): " + ", ".join(
            f"{k} {w[k]['value']:.4f} ({w[k]['ci95'][0]:.4f}-{w[k]['ci95'][1]:.4f})" for k in w))
    for row in r["subgroups"]:
        print(f"  {row['group']:24s} n={row['n']:5d} cvd={row['positives']:4d} "
              f"AUC={row.get('auc', float('nan')):.3f} recall={row.get('recall', float('nan')):.3f}")


if __name__ == "__main__":
    main()
