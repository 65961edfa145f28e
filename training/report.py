"""Plots (PNG) and the model card (docs/model-card.md) from a finished training run."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.calibration import calibration_curve  # noqa: E402
from sklearn.metrics import precision_recall_curve, roc_curve  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
DOCS = REPO / "docs"
FIGURES = DOCS / "figures"


def _save(fig, name: str) -> str:
    FIGURES.mkdir(parents=True, exist_ok=True)
    path = FIGURES / name
    fig.savefig(path, dpi=110, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)
    return f"figures/{name}"


def plots(doc: dict, y, p_q, p_cal, threshold: float) -> dict:
    """ROC, PR, reliability, threshold sweep and coefficient plots of the test split."""
    out = {}
    fig, ax = plt.subplots(figsize=(5, 5))
    for label, p in (("quantized (encrypted pipeline)", p_q), ("float, calibrated", p_cal)):
        fpr, tpr, _ = roc_curve(y, p)
        ax.plot(fpr, tpr, label=label)
    ax.plot([0, 1], [0, 1], "k:", lw=0.8)
    ax.set(xlabel="1 - specificity", ylabel="recall (sensitivity)", title="ROC, test split")
    ax.legend(loc="lower right")
    out["roc"] = _save(fig, "roc.png")

    fig, ax = plt.subplots(figsize=(5, 5))
    prec, rec, _ = precision_recall_curve(y, p_q)
    ax.step(rec, prec, where="post")
    ax.axhline(y.mean(), color="k", ls=":", lw=0.8, label=f"prevalence {y.mean():.3f}")
    ax.set(xlabel="recall", ylabel="precision", title="Precision-recall, test split")
    ax.legend()
    out["pr"] = _save(fig, "precision_recall.png")

    fig, ax = plt.subplots(figsize=(5, 5))
    frac, mean = calibration_curve(y, p_q, n_bins=8, strategy="quantile")
    ax.plot(mean, frac, "o-", label="quantized pipeline")
    ax.plot([0, 1], [0, 1], "k:", lw=0.8)
    ax.set(xlabel="predicted probability", ylabel="observed frequency", title="Reliability, test split")
    ax.legend()
    out["calibration"] = _save(fig, "calibration.png")

    fig, ax = plt.subplots(figsize=(6, 4))
    levels = sorted(set(doc["lut"]))
    recalls, precisions = [], []
    for t in levels:
        pred = p_q >= t / 4096
        recalls.append(pred[y == 1].mean())
        precisions.append(y[pred].mean() if pred.any() else np.nan)
    ax.plot([t / 4096 for t in levels], recalls, "o-", label="recall")
    ax.plot([t / 4096 for t in levels], precisions, "s-", label="precision")
    ax.axvline(threshold, color="r", ls="--", label=f"threshold {threshold:.3f}")
    ax.set(xlabel="threshold on calibrated probability", title="Recall / precision vs threshold (test)")
    ax.legend()
    out["threshold"] = _save(fig, "threshold.png")

    fig, ax = plt.subplots(figsize=(6, 4))
    coefs = doc["training"]["float_coefficients_standardized"]
    names = list(coefs)
    ax.barh(names, [coefs[n] for n in names])
    ax.axvline(0, color="k", lw=0.8)
    ax.set(xlabel="coefficient (per standard deviation)", title="Elastic Net logistic regression")
    out["coefficients"] = _save(fig, "coefficients.png")
    return out


def subgroup_table(test, y, p_q, threshold: float) -> list[tuple[str, int, int, str, str]]:
    """Recall and AUC by sex and age band on the test split (bias report)."""
    from sklearn.metrics import roc_auc_score

    rows = []
    groups = {
        "men": test["male"] == 1,
        "women": test["male"] == 0,
        "age 20-44": test["age"] < 45,
        "age 45-64": (test["age"] >= 45) & (test["age"] < 65),
        "age 65+": test["age"] >= 65,
    }
    for name, mask in groups.items():
        mask = mask.to_numpy()
        yy, pp = y[mask], p_q[mask]
        pos = int(yy.sum())
        recall = f"{(pp[yy == 1] >= threshold).mean():.3f}" if pos else "n/a"
        auc = f"{roc_auc_score(yy, pp):.3f}" if 0 < pos < len(yy) else "n/a"
        rows.append((name, int(mask.sum()), pos, auc, recall))
    return rows


def write_all(doc: dict, y, p_q, p_cal, threshold: float, test, features: list[str]) -> None:
    """Write every plot and docs/model-card.md."""
    figs = plots(doc, y, p_q, p_cal, threshold)
    m = doc["metrics"]["test"]
    t = doc["training"]
    ci = lambda k: f"{m[k]['value']:.3f} (95% CI {m[k]['ci95'][0]:.3f}–{m[k]['ci95'][1]:.3f})"  # noqa: E731
    feat_rows = "\n".join(
        f"| `{f['name']}` | {f['description']} | {f['unit']} | {f['plausible_min']}–{f['plausible_max']} | "
        f"{f['clamp_min']}–{f['clamp_max']} | {f['bits']} | {w} | {t['float_coefficients_standardized'][f['name']]:+.3f} |"
        for f, w in zip(doc["features"], doc["weights"]))
    sub_rows = "\n".join(f"| {n} | {c} | {p} | {a} | {r} |" for n, c, p, a, r in subgroup_table(test, y, p_q, threshold))
    sel = "\n".join(f"- {s['step']}: CV AUC {s['cv_auc']:.4f}" for s in t["selection"])
    text = f"""# Model card: `{doc['model_id']}` version {doc['version']}

**A screening aid, not a diagnosis.** It flags adults who may have cardiovascular disease so
that a clinician looks further. It never rules disease in or out.

## Data
- NHANES 2013–2014 (US CDC, public domain), the project's 80% share in `../shared/data`; the
  committed trimmed extract `training/data/nhanes_2013_2014_extract.csv` has sha256
  `{t['extract_sha256']}`.
- Cohort: adults aged ≥ 20 with a known label: {t['cohort']['adults']} people,
  {t['cohort']['positives']} with CVD. Split (stratified, seed {t['seed']}): train
  {t['cohort']['train']}, calibration {t['cohort']['calibration']}, test {t['cohort']['test']}.
- Label: *prevalent* cardiovascular disease = ever told by a doctor of coronary heart disease,
  angina, heart attack or stroke (MCQ160C/D/E/F = 1). All four answered "no" = 0; refused or
  don't know (7/9) or blank without any "yes" = missing, excluded. **This detects disease that
  was already diagnosed, not 10-year incidence**, and self-report misses undiagnosed disease.
- Missing predictor values: median of the training split (fitted on train only). At screening
  time every field is required.

## Features and coefficients
Selected by 5-fold cross-validation on the training split (SMOTE inside the folds):
{sel}

| feature | meaning | unit | accepted range | quantization range | bits | integer weight (/4096 per code) | coefficient per SD |
|---|---|---|---|---|---|---|---|
{feat_rows}

Elastic Net: C = {t['hyper_parameters']['C']}, l1_ratio = {t['hyper_parameters']['l1_ratio']}
(chosen by CV AUC on train, {doc['metrics']['cv_auc_train']:.4f}). Negative weights on systolic
pressure and total cholesterol reflect treatment: people already diagnosed are more often on
blood-pressure and lipid-lowering drugs. The model encodes associations, not causes.

![coefficients]({figs['coefficients']})

## The integer pipeline (what runs under encryption)
Inputs are quantized to {doc['features'][0]['bits']}-bit codes (binary answers 1 bit), weights at
scale 4096, each base-4 digit's contribution rounded to the 2^{doc['linear']['grain_shift']} grid,
index = (logit + {doc['index']['offset']}) >> {doc['index']['shift']} ({doc['index']['bits']} bits,
covering the proven logit range so no clamp is needed), then one monotone table
(isotonic ∘ sigmoid, {len(set(doc['lut']))} levels) in units of 1/4096. Every metric below is
computed by running exactly this integer pipeline.

## Metrics on the test split (touched once; 95% bootstrap CIs, 1000 resamples)
- AUC: {ci('auc')}; float model with isotonic calibration: {m['auc_float_calibrated']:.4f}
  (ΔAUC {m['delta_auc']:.5f}); float model uncalibrated: {m['auc_float_uncalibrated']:.4f}.
- Threshold {doc['threshold']}/4096 = {doc['threshold']/4096:.4f}, chosen on the calibration
  split for recall ≥ 0.95 (recall there: {doc['metrics']['calibration_recall_at_threshold']:.3f}).
- Recall {ci('recall')}; precision {ci('precision')}; specificity {ci('specificity')}.
- Brier score {ci('brier')}; expected calibration error (10 bins) {ci('ece')}.
- Test split: {m['n']} people, {m['positives']} with CVD: the intervals are wide.

The project's target AUC of 0.86 is **not** reached on this test split. Cross-validated AUC on
the training split is about 0.85 for every feature set and regularisation tried; the test split
is a small sample (its CI includes 0.86). It was not re-split or re-tuned to look better.

![ROC]({figs['roc']}) ![PR]({figs['pr']})
![calibration]({figs['calibration']}) ![threshold]({figs['threshold']})

## Subgroups (test split, quantized pipeline, at the threshold)
| group | n | with CVD | AUC | recall |
|---|---|---|---|---|
{sub_rows}

Small subgroups give unstable figures; the model was not trained for fairness constraints.

## Intended use and limits
- Intended: prompting a clinician to assess adults for existing cardiovascular disease, with the
  evaluator never seeing patient data (TFHE).
- Not intended: diagnosis, treatment decisions, children, populations unlike the US 2013–2014
  civilian non-institutionalized population, or estimating future risk.
- High recall means many false positives (precision ≈ {m['precision']['value']:.2f}): a positive
  screen means "look further", nothing more.
- External validation: `python -m training.evaluate --data DIR --model models/cvd-lr/v1/model.json`
  scores another NHANES cycle with the same definitions.
"""
    DOCS.mkdir(parents=True, exist_ok=True)
    (DOCS / "model-card.md").write_text(text)
