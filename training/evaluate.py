"""Score an NHANES cycle with a released model's integer pipeline, in a way that cannot flatter it.

    python -m training.evaluate --data DIR [--model models/cvd-lr/v2/model.json]
                                [--impute] [--scores-out FILE] [--json]

DIR holds a cycle's files as the CDC publishes them (DEMO_J.XPT, BPX_J.XPT, BPQ_J.XPT,
MCQ_J.XPT, SMQ_J.XPT, DIQ_J.XPT, BMX_J.XPT, BIOPRO_J.XPT, TCHOL_J.XPT, HDL_J.XPT ... any cycle
suffix, .XPT or .xpt, or one CSV per component with the same variable names; the 2013-2014
four-CSV layout also works). Values below 1e-10 are read as 0 (the SAS transport format's
zero comes back as 5.4e-79); a 0 measurement is no measurement.

Population and label come from the model, not from this code:
- a model with a `target` (cvd-lr v3) gets that label, built from the cycle's own files
  (`training.v3_target`: adults 30-79 without known CVD — heart failure MCQ160B included —,
  PREVENT base 10-year total CVD >= 7.5 % from the cycle's labs; people missing a label
  variable or outside PREVENT's ranges are outside the evaluated population, counted);
- a model without one (cvd-lr v1, v2) keeps its old label rule, stated as such: adults >= 20,
  prevalent CVD from MCQ160C/D/E/F (heart failure not in it).

The population and label rule are printed first. Then, overall and by sex, age band
(30-49 / 50-64 / 65-79, and < 30 / 80+ where the population has them) and race/ethnicity,
unweighted beside survey-weighted (examination weights): AUC (with a bootstrap 95 % CI
overall), recall, specificity, PPV and share flagged at the model's threshold; calibration
slope, calibration-in-the-large, O/E (also per sex x age band), Brier, ECE; the best
single-cut age rule at the same recall, side by side.

Complete cases are the primary analysis: a person missing a model input is left out and
counted per input. `--impute` fills missing inputs with the training medians stored in
model.json instead, counted per feature. `--scores-out FILE` writes one row per scored person
(SEQN, label, probability, flagged) so every figure can be recomputed.
"""
from __future__ import annotations

import argparse
import csv
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd

from training import metrics as M
from training import screen_metrics as S
from training import v3_target as T
from training.integer_pipeline import IntegerModel
from training.spec import absent_variables, build_cohort, features_without_data, load_merged

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_MODEL = ROOT / "models" / "cvd-lr" / "v2" / "model.json"  # v3 is not the default yet
OLD_RULE = ("population: adults aged 20 or older with a known answer to MCQ160C/D/E/F. "
            "label: prevalent CVD = any of MCQ160C/D/E/F = 1 (heart failure MCQ160B not in "
            "it). This model has no `target`: this is its old label rule, kept so that it stays "
            "evaluable; it is not the question cvd-lr v3 answers.")


def model_from_json(doc: dict) -> IntegerModel:
    """The integer pipeline of a model.json."""
    return IntegerModel.from_doc(doc)


def describe_target(doc: dict) -> str:
    """The population and label rule of a model, as printed first."""
    target = doc.get("target")
    if target is None:
        return OLD_RULE
    label = target["label"]
    return (f"population: {target['population']['rule']} (ages "
            f"{target['population']['age_min']}-{target['population']['age_max']}; known CVD = "
            f"any of {', '.join(target['population']['known_cvd_items'])} = 1). label: "
            f"{label['rule']} ({target['prevent_version']}). missing label variable: "
            f"{label['missing']}. out of PREVENT's range: {label['out_of_range']}.")


def _population(data: Path, doc: dict) -> tuple[pd.DataFrame, dict]:
    """The evaluated population with label and every model input, and how it was made."""
    names = [f["name"] for f in doc["features"]]
    target = doc.get("target")
    if target is None:
        merged = load_merged(data)
        raw = T.zero_tiny(merged)
        raw.attrs["absent"] = absent_variables(merged)
        frame = build_cohort(raw)
        return frame, {"label_rule": "old", "absent_variables": absent_variables(raw),
                       "features_without_data": features_without_data(raw, names)}
    if target["label"]["kind"] != "prevent_risk_at_least":
        raise ValueError(f"target label kind `{target['label']['kind']}` is not known")
    equation_file = ROOT / target["label"]["equation_file"]
    recorded = doc.get("training", {}).get("equation_sha256")
    if recorded and T.P.sha256_file(equation_file) != recorded:
        raise ValueError(f"{target['label']['equation_file']}: sha256 differs from the one "
                         "the model was trained with")
    wanted = set(T.RAW_VARIABLES) | {s for n in names for s in T.LAB_FREE_FEATURES[n].sources}
    raw = T.read_cycle(data, wanted)
    cohort = T.build_target_cohort(raw)
    no_data = [n for n in names if not any(raw[s].notna().any()
                                           for s in T.LAB_FREE_FEATURES[n].sources)]
    return cohort.frame, {"label_rule": "target", "absent_variables": raw.attrs["absent"],
                          "features_without_data": no_data, "aged_in_range": cohort.total,
                          "outside": cohort.excluded, "label_inputs_missing": cohort.missing_any,
                          "out_of_range": cohort.out_of_range}


def _groups(frame: pd.DataFrame) -> dict[str, np.ndarray]:
    age = frame["age"].to_numpy(dtype=float)
    out = {"men": frame["male"].to_numpy() == 1, "women": frame["male"].to_numpy() == 0}
    if (age < 30).any():
        out["age < 30"] = age < 30
    for lo, hi in S.AGE_BANDS:
        out[f"age {lo}-{hi}"] = (age >= lo) & (age <= hi)
    if (age >= 80).any():
        out["age 80+"] = age >= 80
    race = frame["race_ethnicity"].to_numpy(dtype=float)
    for code, name in M.RACE_ETHNICITY.items():
        out[name] = race == code
    return out


def _row(y, p, flagged, w) -> dict:
    unweighted = S.confusion(y, flagged)
    row = {"n": unweighted["n"], "positives": unweighted["positives"],
           "auc": S.auc(y, p), "auc_weighted": S.auc(y, p, w) if w is not None else math.nan}
    for k in ("recall", "specificity", "ppv", "flagged"):
        row[k] = unweighted[k]
    if w is not None:
        weighted = S.confusion(y, flagged, w)
        for k in ("recall", "specificity", "ppv", "flagged"):
            row[f"{k}_weighted"] = weighted[k]
    return row


def evaluate(data: Path, model_path: Path, seed: int = 1, impute: bool = False) -> dict:
    """Every figure of the model's integer pipeline on the population built from `data`."""
    doc = json.loads(Path(model_path).read_text())
    model = model_from_json(doc)
    names = [f["name"] for f in doc["features"]]
    frame, info = _population(data, doc)
    missing = {n: int(frame[n].isna().sum()) for n in names}
    out = {"model": f"{doc['model_id']} v{doc['version']}", "target": describe_target(doc),
           **info, "evaluated_population": int(len(frame)), "missing_per_feature": missing,
           "analysis": "imputed" if impute else "complete cases"}
    if impute:
        medians = doc["training"]["imputation_medians"]
        out["imputed_per_feature"] = {n: k for n, k in missing.items() if k}
        frame = frame.assign(**{n: frame[n].fillna(medians[n]) for n in names})
    else:
        keep = frame[names].notna().all(axis=1)
        out["left_out_incomplete"] = int((~keep).sum())
        frame = frame[keep].reset_index(drop=True)
    y = frame["label"].to_numpy(dtype=int)
    runs = [model.run(list(r)) for r in frame[names].to_numpy(dtype=float)]
    p = np.array([r["p"] for r in runs], dtype=float) / doc["probability_scale"]
    flagged = np.array([r["high"] for r in runs], dtype=bool)
    threshold = doc["threshold"] / doc["probability_scale"]
    weights = frame["exam_weight"].to_numpy(dtype=float)
    has_weights = bool(len(weights) and np.isfinite(weights).all() and (weights > 0).any())
    w = weights if has_weights else None
    out["n"], out["positives"] = int(len(y)), int(y.sum())
    out["scores"] = pd.DataFrame({"SEQN": frame["SEQN"].astype(int), "label": y,
                                  "probability": p, "flagged": flagged.astype(int)})
    if len(y) == 0 or y.min() == y.max():
        raise ValueError("the scored population needs people with and without the label")
    # auc, recall, precision, specificity, brier, ece
    out.update(M.bootstrap(y, p, threshold, seed))
    out["survey"] = M.survey_report(y, p, weights, threshold, seed) if has_weights else None
    out["overall"] = _row(y, p, flagged, w)
    out["subgroups"] = [{"group": g, **_row(y[m], p[m], flagged[m], None if w is None else w[m])}
                        for g, m in _groups(frame).items() if m.any()]
    out["calibration"] = S.calibration(y, p)
    out["calibration_weighted"] = S.calibration(y, p, w) if has_weights else None
    out["o_e_cells"] = S.oe_by_sex_and_age(y, p, frame["male"], frame["age"])
    out["o_e_cells_weighted"] = (S.oe_by_sex_and_age(y, p, frame["male"], frame["age"], w)
                                 if has_weights else None)
    age = frame["age"].to_numpy(dtype=float)
    out["age_rule"] = S.age_rule_at_recall(y, age, out["overall"]["recall"])
    out["age_rule_weighted"] = (S.age_rule_at_recall(y, age, out["overall"]["recall_weighted"], w)
                                if has_weights else None)
    return out


def write_scores(path: Path, scores: pd.DataFrame) -> None:
    """One row per scored person: SEQN, label, probability, flagged."""
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(["SEQN", "label", "probability", "flagged"])
        for seqn, label, prob, flag in scores.itertuples(index=False):
            writer.writerow([int(seqn), int(label), repr(float(prob)), int(flag)])


def _f(x, d: int = 3) -> str:
    return "   n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{d}f}"


def render(r: dict) -> str:
    """The printed report; sections in a fixed order, population and label rule first."""
    lines = ["== population and label ==", f"model: {r['model']}", r["target"], ""]
    lines.append("== cohort ==")
    if r["label_rule"] == "target":
        lines.append(f"aged in range: {r['aged_in_range']}")
        lines += [f"  outside: {k}: {v}" for k, v in r["outside"].items() if v]
        lines.append("  out of PREVENT's range per input: " + ", ".join(
            f"{k} {v}" for k, v in r["out_of_range"].items()))
    lines.append(f"evaluated population: {r['evaluated_population']}")
    if r["absent_variables"]:
        lines.append(f"variables this cycle lacks: {', '.join(r['absent_variables'])}")
    for name in r["features_without_data"]:
        lines.append(f"WARNING: model feature `{name}` has no data in this cycle")
    lines.append("missing per model input: " + ", ".join(
        f"{k} {v}" for k, v in r["missing_per_feature"].items()))
    if r["analysis"] == "imputed":
        lines.append("analysis: --impute, training medians filled in per feature: " + (", ".join(
            f"{k} {v}" for k, v in r["imputed_per_feature"].items()) or "none"))
    else:
        lines.append(f"analysis: complete cases ({r['left_out_incomplete']} left out for a "
                     "missing input; --impute to fill them)")
    lines.append(f"scored: {r['n']}, label = 1: {r['positives']}")
    lines += ["", "== discrimination and classification at the model's threshold ==",
              "metric        unweighted  (95% CI)            survey-weighted"]
    o = r["overall"]
    lines.append(f"AUC           {_f(r['auc']['value'], 4)}      ({_f(r['auc']['ci95'][0], 4)}-"
                 f"{_f(r['auc']['ci95'][1], 4)})   {_f(o['auc_weighted'], 4)}")
    for k, key in (("recall", "recall"), ("specificity", "specificity"), ("PPV", "ppv"),
                   ("share flagged", "flagged")):
        ci = r[{"ppv": "precision"}.get(key, key)]["ci95"] if key != "flagged" else None
        cis = f"({_f(ci[0])}-{_f(ci[1])})" if ci else "           "
        lines.append(f"{k:13s} {_f(o[key]):>10s}      {cis}     {_f(o.get(key + '_weighted'))}")
    lines += ["", "== subgroups (unweighted | survey-weighted) ==",
              f"{'group':24s} {'n':>5s} {'label1':>6s}  AUC   recall  spec   PPV  flagged |"
              "  AUC   recall  spec   PPV  flagged"]
    for g in r["subgroups"]:
        lines.append(
            f"{g['group']:24s} {g['n']:5d} {g['positives']:6d} {_f(g['auc'])} {_f(g['recall'])} "
            f"{_f(g['specificity'])} {_f(g['ppv'])} {_f(g['flagged'])} | {_f(g['auc_weighted'])} "
            f"{_f(g.get('recall_weighted'))} {_f(g.get('specificity_weighted'))} "
            f"{_f(g.get('ppv_weighted'))} {_f(g.get('flagged_weighted'))}")
    lines += ["", "== calibration =="]
    for name, c in (("unweighted", r["calibration"]),
                    ("survey-weighted", r["calibration_weighted"])):
        if c is not None:
            lines.append(f"{name:16s} slope {_f(c['slope'])}, calibration-in-the-large "
                         f"{_f(c['citl'])}, O/E {_f(c['o_e'])}, Brier {_f(c['brier'], 4)}, "
                         f"ECE {_f(c['ece'], 4)}")
    lines.append("O/E per sex x age band (unweighted | weighted):")
    weighted = r["o_e_cells_weighted"] or [None] * len(r["o_e_cells"])
    for c, cw in zip(r["o_e_cells"], weighted, strict=True):
        lines.append(f"  {c['sex']:5s} {c['age']}  n={c['n']:5d} observed {c['observed']:.0f} "
                     f"expected {c['expected']:.1f}  O/E {_f(c['o_e'], 2)} | "
                     f"{_f(cw['o_e'], 2) if cw else 'n/a'}")
    lines += ["", "== best single-cut age rule at the same recall =="]
    for name, a, key in (("unweighted", r["age_rule"], ""),
                         ("survey-weighted", r["age_rule_weighted"], "_weighted")):
        if a is not None:
            lines.append(f"{name:16s} model: recall {_f(o['recall' + key])}, specificity "
                         f"{_f(o['specificity' + key])} | age >= {a['cut']:g}: recall "
                         f"{_f(a['recall'])}, specificity {_f(a['specificity'])} | difference "
                         f"{_f(o['specificity' + key] - a['specificity'])}")
    return "\n".join(lines)


def _jsonable(r: dict) -> dict:
    return json.loads(json.dumps({k: v for k, v in r.items() if k != "scores"},
                                 default=lambda x: x.item() if hasattr(x, "item") else str(x)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    parser.add_argument("--impute", action="store_true",
                        help="fill missing inputs with the training medians (counted)")
    parser.add_argument("--scores-out", type=Path, help="CSV: SEQN, label, probability, flagged")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args()
    r = evaluate(args.data, args.model, impute=args.impute)
    if args.scores_out:
        write_scores(args.scores_out, r["scores"])
    print(json.dumps(_jsonable(r), indent=2) if args.json else render(r))


if __name__ == "__main__":
    main()
