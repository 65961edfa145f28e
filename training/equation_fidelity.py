"""How far the released integer (encrypted) PREVENT and PCE pipelines are from the exact
equations, on the NHANES 2013-2014 cohort of each equation.

    python -m training.equation_fidelity [--out training/reports/prevent-fidelity.md]
                                         [--pce-out training/reports/pce-fidelity.md]

For each released model (`training.equation_export.build_all()`, the documents committed under
`models/prevent-*/v2/` and `models/pce-ascvd-10y/v1/`) and every eligible in-range participant
of the committed extract (`training/prevent_cohort.py`, with the equation's own inputs, ranges
and ages): the integer probability (`training.equation_model.run`, the
pipeline every engine reproduces bit for bit) against the exact binary64 equation
(`training.equation_eval.probability`). Measured, not tuned: nothing here feeds back into the
models. The report holds aggregates only.

Targets: the same risk category for >= 99.5 % of patients and |delta| <= 0.2 percentage point
for >= 99 %.
"""
from __future__ import annotations

import argparse
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from training import equation_eval as E
from training import equation_model as M
from training import prevent_cohort as C
from training.equation_export import build_all, published_patients

REPORT = C.HERE / "reports" / "prevent-fidelity.md"
PCE_REPORT = C.HERE / "reports" / "pce-fidelity.md"
PREVENT_IDS = ["prevent-cvd-10y", "prevent-ascvd-10y"]
PCE_IDS = ["pce-ascvd-10y"]
SAME_CATEGORY_TARGET = 0.995
WITHIN_TARGET = 0.99
WITHIN_PP = 0.2
RISK_QUANTILES = [0.01, 0.05, 0.10, 0.25, 0.50, 0.75, 0.90, 0.95, 0.99]
DELTA_QUANTILES = [0.50, 0.90, 0.99]


def exact_category(model: dict, exact: float) -> str:
    """The category the exact probability falls in, with the model's own bands (a band's
    `below` is in units of 1/probability_scale, so compare on that scale, unrounded)."""
    scaled = exact * model["output"]["probability_scale"]
    for band in model["output"]["categories"]:
        if band["below"] is None or scaled < band["below"]:
            return band["name"]
    raise ValueError("categories must end with an open band")


def integer_probability(model: dict, inputs: dict) -> int:
    """The pipeline's probability (1/probability_scale), refusing an index the table does not
    hold (Python would otherwise read a negative index from the end of the table)."""
    refused = ValueError(f"{model['model_id']}: index outside the output table")
    try:
        out = M.run(model, inputs)
    except (IndexError, ValueError):  # run() itself refuses an index it cannot read
        raise refused from None
    if not 0 <= out["index"] <= model["index"]["max"]:
        raise refused
    return out["probability"]


@dataclass
class Fidelity:
    """Per-model measurement over the cohort (arrays in cohort order; only aggregates leave)."""
    model_id: str
    exact: np.ndarray  # exact probability, 0-1
    integer: np.ndarray  # integer pipeline probability, 0-1
    exact_cat: list[str]
    integer_cat: list[str]
    categories: list[str]

    @property
    def n(self) -> int:
        return len(self.exact)

    @property
    def delta_pp(self) -> np.ndarray:
        """integer - exact, in percentage points."""
        return (self.integer - self.exact) * 100.0

    @property
    def same_category(self) -> float:
        return float(np.mean([a == b
                              for a, b in zip(self.exact_cat, self.integer_cat, strict=True)]))

    @property
    def within(self) -> float:
        # A tiny tolerance so a delta of exactly 0.2 pp is not lost to binary64 rounding.
        return float(np.mean(np.abs(self.delta_pp) <= WITHIN_PP + 1e-9))

    def meets_targets(self) -> bool:
        return self.same_category >= SAME_CATEGORY_TARGET and self.within >= WITHIN_TARGET


def measure(model: dict, patients: list[dict]) -> Fidelity:
    """Integer pipeline vs exact equation for every patient."""
    scale = model["output"]["probability_scale"]
    equation = model["equation"]
    exact = np.array([E.probability(equation, p) for p in patients])
    integer = np.array([integer_probability(model, p) for p in patients]) / scale
    return Fidelity(
        model_id=model["model_id"],
        exact=exact,
        integer=integer,
        exact_cat=[exact_category(model, x) for x in exact],
        integer_cat=[M.category(model, int(round(x * scale))) for x in integer],
        categories=[band["name"] for band in model["output"]["categories"]],
    )


def pct(x: float) -> str:
    return f"{100.0 * x:.2f} %"


def model_section(f: Fidelity) -> str:
    """Markdown for one model: targets, |delta| distribution, category agreement, exact risk."""
    d = f.delta_pp
    absd = np.abs(d)
    worst = int(np.argmax(absd))
    # Percentile rank of the worst patient's exact risk within the cohort (no patient value).
    worst_rank = 100.0 * float(np.mean(f.exact <= f.exact[worst]))
    ok = lambda good: "met" if good else "**NOT met**"  # noqa: E731
    lines = [
        f"### {f.model_id}", "",
        f"n = {f.n} patients.", "",
        "| measure | value | target |", "|---|---:|---|",
        f"| same category as the exact equation | {pct(f.same_category)} "
        f"({sum(a == b for a, b in zip(f.exact_cat, f.integer_cat, strict=True))}/{f.n}) | "
        f">= 99.5 % "
        f"{ok(f.same_category >= SAME_CATEGORY_TARGET)} |",
        f"| \\|delta\\| <= {WITHIN_PP} pp | {pct(f.within)} | >= 99 % "
        f"{ok(f.within >= WITHIN_TARGET)} |",
        f"| median \\|delta\\| | {np.median(absd):.4f} pp | |",
    ]
    lines += [f"| {int(q * 100)}th percentile \\|delta\\| | {np.quantile(absd, q):.4f} pp | |"
              for q in DELTA_QUANTILES[1:]]
    lines += [
        f"| max \\|delta\\| | {absd[worst]:.4f} pp | |",
        f"| where the max is | exact risk in the {f.exact_cat[worst]} band, at the "
        f"{worst_rank:.0f}th percentile of the cohort's exact risk | |",
        f"| mean delta (integer - exact) | {np.mean(d):+.4f} pp | |",
        "",
        "Category agreement (rows: exact equation, columns: integer pipeline):", "",
        "| exact \\ integer | " + " | ".join(f.categories) + " |",
        "|---|" + "---:|" * len(f.categories),
    ]
    for a in f.categories:
        row = [sum(1 for x, y in zip(f.exact_cat, f.integer_cat, strict=True) if x == a and y == b)
               for b in f.categories]
        lines.append(f"| {a} | " + " | ".join(str(v) for v in row) + " |")
    lines += ["", "Exact 10-year risk over the cohort:", "",
              "| quantile | " + " | ".join(f"{int(q * 100)} %" for q in RISK_QUANTILES) + " |",
              "|---|" + "---:|" * len(RISK_QUANTILES),
              "| exact risk | " + " | ".join(f"{100 * np.quantile(f.exact, q):.2f} %"
                                             for q in RISK_QUANTILES) + " |",
              "", "| category | exact equation | integer pipeline |", "|---|---:|---:|"]
    for a in f.categories:
        lines.append(f"| {a} | {f.exact_cat.count(a)} | {f.integer_cat.count(a)} |")
    return "\n".join(lines)


def report(cohort: C.Cohort, results: list[Fidelity], models: dict | None = None) -> str:
    """The whole Markdown report (`models`: the measured documents, by id): PREVENT's, or the
    PCE's when the cohort is the PCE's."""
    models = build_all() if models is None else models
    pce = cohort.equation == C.PCE_EQUATION
    title = "PCE 2013" if pce else "PREVENT"
    released = "`models/pce-ascvd-10y/v1/model.json`" if pce else "`models/prevent-*/v2/model.json`"
    head = [
        f"# {title}: integer (encrypted) pipeline vs the exact equation on NHANES 2013-2014", "",
        "Generated by `python -m training.equation_fidelity` from the committed extract "
        f"`training/data/{C.EXTRACT.name}` (sha256 `{C.sha256_file(C.EXTRACT)[:16]}...`; "
        "made from the raw NHANES files by `python -m training.prevent_cohort --extract`). "
        "The models are `training.equation_export.build_all()`, the released "
        f"{released}. Delta = integer probability - exact probability, "
        "in percentage points (pp). Categories: low < 5 %, borderline 5-7.5 %, "
        "intermediate 7.5-20 %, high >= 20 %. Measured only: nothing is tuned to these "
        "figures. Unweighted (no NHANES survey weights): this measures the arithmetic on "
        "realistic patients, not population prevalence."
        + (" Race from RIDRETH3 (the sibling extract "
           f"`training/data/{C.RACE_EXTRACT.name}`, sha256 "
           f"`{C.sha256_file(C.RACE_EXTRACT)[:16]}...`): non-Hispanic Black -> black (African "
           "American equations), non-Hispanic White -> white, every other code -> other (white "
           "equations, as published)." if pce else ""), "",
        "## Cohort", "",
        C.summary(cohort), "",
        "## Fidelity", "",
        "| model | n | same category | \\|delta\\| <= 0.2 pp | median \\|delta\\| | "
        "max \\|delta\\| | targets |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for f in results:
        absd = np.abs(f.delta_pp)
        head.append(f"| {f.model_id} | {f.n} | {pct(f.same_category)} | {pct(f.within)} | "
                    f"{np.median(absd):.4f} pp | {absd.max():.4f} pp | "
                    f"{'met' if f.meets_targets() else '**NOT met**'} |")
    head += limits_section(results, models) if pce else [
        "", "Encryption limits of the released integer pipeline (`training.equation_model`: "
        "slot weight mass = sum of |slot weight| over every group's term and group slots, at "
        f"most 2^{math.log2(M.MAX_SLOT_WEIGHT_MASS):.0f}; plaintext range = acc_max - acc_min, "
        f"below 2^{M.PLAINTEXT_BITS}):", "",
        "| model | slot weight mass | log2 | acc_max - acc_min | log2 |",
        "|---|---:|---:|---:|---:|",
    ]
    for f in [] if pce else results:
        model = models[f.model_id]
        mass = M.slot_weight_mass(model)
        span = model["linear"]["acc_max"] - model["linear"]["acc_min"]
        head.append(f"| {f.model_id} | {mass} | {math.log2(mass):.2f} | {span} | "
                    f"{math.log2(span):.2f} |")
    body = [model_section(f) for f in results]
    if pce:
        body += [published_section(models[f.model_id]) for f in results]
    return "\n".join(head) + "\n\n" + "\n\n".join(body) + "\n"


def limits_section(results: list[Fidelity], models: dict) -> list[str]:
    """Per encrypted output (weight digit) of each model: its exact range and weight mass
    against the two encryption limits."""
    lines = [
        "", "Encryption limits of the released integer pipeline, per encrypted output "
        "(`training.equation_model`: every slot weight is split into D base-2^k digits, output "
        "j = sum of digit j x slot value; its weight mass = sum of |digit j| over every slot, at "
        f"most 2^{math.log2(M.MAX_SLOT_WEIGHT_MASS):.0f}; its plaintext range = max - min over "
        f"every group, below 2^{M.PLAINTEXT_BITS}):", "",
        "| model | P | k | D | output | weight mass | log2 | range | log2 |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for f in results:
        model = models[f.model_id]
        linear = model["linear"]
        rows = zip(M.output_weights(model), M.output_bounds(model), strict=True)
        for j, (weights, (lo, hi)) in enumerate(rows):
            mass = sum(abs(w) for w in weights)
            lines.append(f"| {f.model_id} | {linear['weight_bits']} | {M.digit_bits(model)} | "
                         f"{M.output_count(model)} | {j} | {mass} | {math.log2(mass):.2f} | "
                         f"{hi - lo} | {math.log2(hi - lo):.2f} |")
    return lines


def published_section(model: dict) -> str:
    """Every published input -> output vector of the model: the published value, the exact
    equation and the integer pipeline (published vectors are public test inputs, not
    participants)."""
    lines = [f"### {model['model_id']}: published vectors", "",
             "| vector | published | exact | integer | integer - exact |",
             "|---|---:|---:|---:|---:|"]
    worst = 0.0
    for vid, patient, published in published_patients(model["model_id"]):
        names = {spec["name"] for spec in model["equation"]["inputs"]}
        patient = {k: v for k, v in patient.items() if k in names}
        exact = E.probability(model["equation"], patient)
        integer = integer_probability(model, patient) / model["output"]["probability_scale"]
        worst = max(worst, abs(integer - exact) * 100)
        lines.append(f"| {vid} | {100 * published:.2f} % | {100 * exact:.3f} % | "
                     f"{100 * integer:.2f} % | {100 * (integer - exact):+.4f} pp |")
    lines += ["", f"Largest \\|integer - exact\\| over the published vectors: {worst:.4f} pp "
              f"(target: <= {WITHIN_PP} pp)."]
    return "\n".join(lines)


def run_all(cohort: C.Cohort | None = None, models: dict | None = None,
            ids: list[str] | None = None) -> list[Fidelity]:
    """Fidelity of the released models `ids` (PREVENT's by default) on the cohort."""
    cohort = C.load_cohort() if cohort is None else cohort
    models = build_all() if models is None else models
    ids = PREVENT_IDS if ids is None else ids
    return [measure(models[i], cohort.patients) for i in ids]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPORT)
    parser.add_argument("--pce-out", type=Path, default=PCE_REPORT)
    args = parser.parse_args()
    models = build_all()
    for path, equation, ids in ((args.out, C.EQUATION, PREVENT_IDS),
                                (args.pce_out, C.PCE_EQUATION, PCE_IDS)):
        cohort = C.load_cohort(equation_path=equation)
        text = report(cohort, run_all(cohort, models, ids), models)
        C.write_atomic(path, text)
        print(text, end="")


if __name__ == "__main__":
    main()
