"""Declare the published risk equations (PREVENT base 10-year total CVD and ASCVD, 2013 PCE)
as Pulsecure equation data, from the coefficient files in ../shared/data/risk-equations.

The output is the `equation` part of a schema-2 model: inputs with units and the published
valid ranges, the term map as expressions, one coefficient set per group and the link. The
numbers are copied from the source files unchanged; nothing here is fitted.

    python -m training.equations [--source DIR] [--out DIR]
"""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SOURCE = ROOT.parent / "shared" / "data" / "risk-equations"
DEFAULT_OUT = ROOT / "models" / "equations"

MMOL_PER_MG_DL = 0.02586  # PREVENT's cholesterol conversion (preventr prep_terms)


def inp(name):
    return {"input": name}


def term(name):
    return {"term": name}


def const(x):
    return {"const": x}


def op(name, a, b):
    return {name: [a, b]}


def number(name, unit, lo, hi):
    return {"name": name, "kind": {"number": {"unit": unit, "min": lo, "max": hi}}}


def binary(name):
    return {"name": name, "kind": "binary"}


def choice(name, levels):
    return {"name": name, "kind": {"choice": {"levels": levels}}}


def scaled(x, minus, per):
    """(x - minus) / per"""
    return op("div", op("sub", x, const(minus)), const(per))


# PREVENT's published valid ranges (preventr's checks and the AHA calculator).
PREVENT_INPUTS = [
    number("age", "years", 30, 79),
    choice("sex", ["female", "male"]),
    number("sbp", "mmHg", 90, 180),
    binary("bp_tx"),
    number("total_c", "mg/dL", 130, 320),
    number("hdl_c", "mg/dL", 20, 100),
    binary("statin"),
    binary("dm"),
    binary("smoking"),
    number("egfr", "mL/min/1.73m2", 15, 140),
]


def prevent_terms():
    """The PREVENT base-model covariates (Khan et al. 2024, preventr prep_terms). BMI enters
    only the heart-failure equations, whose BMI coefficients are the only non-zero ones, so
    the total-CVD and ASCVD declarations leave it out (their coefficients are 0.0; checked
    below)."""
    mmol = lambda x: op("mul", x, const(MMOL_PER_MG_DL))  # noqa: E731
    t = {
        "age": scaled(inp("age"), 55, 10),
        "non_hdl_c": op("sub", mmol(op("sub", inp("total_c"), inp("hdl_c"))), const(3.5)),
        "hdl_c": scaled(mmol(inp("hdl_c")), 1.3, 0.3),
        "sbp_lt_110": scaled(op("min", inp("sbp"), const(110)), 110, 20),
        "sbp_gte_110": scaled(op("max", inp("sbp"), const(110)), 130, 20),
        "dm": inp("dm"),
        "smoking": inp("smoking"),
        "egfr_lt_60": scaled(op("min", inp("egfr"), const(60)), 60, -15),
        "egfr_gte_60": scaled(op("max", inp("egfr"), const(60)), 90, -15),
        "bp_tx": inp("bp_tx"),
        "statin": inp("statin"),
        "bp_tx_sbp_gte_110": op("mul", term("bp_tx"), term("sbp_gte_110")),
        "statin_non_hdl_c": op("mul", term("statin"), term("non_hdl_c")),
        "age_non_hdl_c": op("mul", term("age"), term("non_hdl_c")),
        "age_hdl_c": op("mul", term("age"), term("hdl_c")),
        "age_sbp_gte_110": op("mul", term("age"), term("sbp_gte_110")),
        "age_dm": op("mul", term("age"), term("dm")),
        "age_smoking": op("mul", term("age"), term("smoking")),
        "age_egfr_lt_60": op("mul", term("age"), term("egfr_lt_60")),
        "constant": const(1.0),
    }
    return t


def prevent_equation(source, outcome):
    model = source["models"]["base_10yr"]
    names = model["terms"]
    defs = prevent_terms()
    terms, keep = [], []
    for i, name in enumerate(names):
        coefs = [model["coefficients"][f"{sex}_{outcome}"][i] for sex in ("female", "male")]
        if name not in defs:
            if any(c != 0.0 for c in coefs):
                raise SystemExit(f"term {name} has a non-zero {outcome} coefficient "
                                 "but no definition")
            continue
        terms.append({"name": name, "expr": defs[name]})
        keep.append(i)
    groups = [
        {
            "name": sex,
            "when": {"sex": [sex]},
            "coefficients": [model["coefficients"][f"{sex}_{outcome}"][i] for i in keep],
        }
        for sex in ("female", "male")
    ]
    return {"inputs": PREVENT_INPUTS, "terms": terms, "groups": groups, "link": "logistic"}


PCE_TERMS = [
    ("ln_age", {"ln": inp("age")}),
    ("ln_age_sq", op("mul", term("ln_age"), term("ln_age"))),
    ("ln_tc", {"ln": inp("total_c")}),
    ("ln_age_x_ln_tc", op("mul", term("ln_age"), term("ln_tc"))),
    ("ln_hdl", {"ln": inp("hdl_c")}),
    ("ln_age_x_ln_hdl", op("mul", term("ln_age"), term("ln_hdl"))),
    ("ln_sbp_treated", op("mul", inp("bp_tx"), {"ln": inp("sbp")})),
    ("ln_age_x_ln_sbp_treated", op("mul", term("ln_age"), term("ln_sbp_treated"))),
    ("ln_sbp_untreated", op("mul", op("sub", const(1.0), inp("bp_tx")), {"ln": inp("sbp")})),
    ("ln_age_x_ln_sbp_untreated", op("mul", term("ln_age"), term("ln_sbp_untreated"))),
    ("smoker", inp("smoking")),
    ("ln_age_x_smoker", op("mul", term("ln_age"), term("smoker"))),
    ("diabetes", inp("dm")),
]


def pce_equation(source):
    # Ranges: age 40-79 as published for the PCE; the lipid and SBP ranges of the AHA/ACC
    # calculator (total cholesterol 130-320, HDL 20-100, SBP 90-200).
    inputs = [
        number("age", "years", 40, 79),
        choice("sex", ["female", "male"]),
        choice("race", ["black", "white", "other"]),
        number("sbp", "mmHg", 90, 200),
        binary("bp_tx"),
        number("total_c", "mg/dL", 130, 320),
        number("hdl_c", "mg/dL", 20, 100),
        binary("dm"),
        binary("smoking"),
    ]
    groups = []
    for key, race_levels in (("white", ["white", "other"]), ("aa", ["black"])):
        for sex in ("female", "male"):
            g = source["groups"][f"{key}_{sex}"]
            groups.append(
                {
                    "name": f"{key}_{sex}",
                    "when": {"race": race_levels, "sex": [sex]},
                    "coefficients": [g[name] for name, _ in PCE_TERMS],
                    "baseline_survival": g["s0"],
                    "mean_sum": g["mean_sum"],
                }
            )
    terms = [{"name": n, "expr": e} for n, e in PCE_TERMS]
    return {"inputs": inputs, "terms": terms, "groups": groups, "link": "baseline_survival"}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    prevent = json.loads((args.source / "prevent_coefficients.json").read_text())
    pce = json.loads((args.source / "pce_coefficients.json").read_text())
    equations = {
        "prevent-cvd-10y": prevent_equation(prevent, "total_cvd"),
        "prevent-ascvd-10y": prevent_equation(prevent, "ascvd"),
        "pce-ascvd-10y": pce_equation(pce),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    for name, eq in equations.items():
        text = json.dumps(eq, indent=1) + "\n"
        path = args.out / f"{name}.json"
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(text)
        tmp.replace(path)
        shown = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
        print(f"{hashlib.sha256(text.encode()).hexdigest()}  {shown}")


if __name__ == "__main__":
    main()
