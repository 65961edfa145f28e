"""The exact (binary64) form of a declared risk equation, Python side.

Mirrors `pulsecure_core::domain::equation` in Rust: the term map as an expression tree over
the validated inputs and earlier terms, one coefficient set per group, and the link. It is the
yardstick the quantized pipeline (`training/equation_model.py`) is measured against, and what
the published input -> output vectors check.
"""
from __future__ import annotations

import math
from collections.abc import Mapping

Value = float | str


def evaluate(expr: dict, inputs: Mapping[str, Value], terms: Mapping[str, float]) -> float:
    """Value of one expression node."""
    ((op, arg),) = expr.items()
    if op == "input":
        return float(inputs[arg])
    if op == "term":
        return terms[arg]
    if op == "const":
        return float(arg)
    if op == "ln":
        return math.log(evaluate(arg, inputs, terms))
    a, b = (evaluate(x, inputs, terms) for x in arg)
    if op == "add":
        return a + b
    if op == "sub":
        return a - b
    if op == "mul":
        return a * b
    if op == "div":
        return a / b
    if op == "min":
        return min(a, b)
    if op == "max":
        return max(a, b)
    raise ValueError(f"unknown expression operator {op!r}")


def term_values(equation: dict, inputs: Mapping[str, Value]) -> list[float]:
    """Every term, in coefficient order."""
    done: dict[str, float] = {}
    for spec in equation["terms"]:
        done[spec["name"]] = evaluate(spec["expr"], inputs, done)
    return [done[spec["name"]] for spec in equation["terms"]]


def group_index(equation: dict, inputs: Mapping[str, Value]) -> int:
    """The one coefficient set whose `when` matches the choice inputs."""
    for g, group in enumerate(equation["groups"]):
        if all(inputs[name] in levels for name, levels in group["when"].items()):
            return g
    raise ValueError("no coefficient set matches the choice inputs")


def linear_sum(equation: dict, inputs: Mapping[str, Value]) -> float:
    """Sum of coefficient x term for the patient's group."""
    group = equation["groups"][group_index(equation, inputs)]
    terms = term_values(equation, inputs)
    return sum(c * t for c, t in zip(group["coefficients"], terms, strict=True))


def link_offset(equation: dict, g: int) -> float:
    """What is added to group g's linear sum so that one link serves every group: 0 for the
    logistic link; ln(-ln S0) - mean for the baseline-survival link, because
    1 - S0^exp(x - mean) = 1 - exp(-exp(x - mean + ln(-ln S0)))."""
    if equation["link"] == "logistic":
        return 0.0
    group = equation["groups"][g]
    return math.log(-math.log(group["baseline_survival"])) - group["mean_sum"]


def link(equation: dict, z: float) -> float:
    """The shared link applied to an offset linear sum (see `link_offset`)."""
    if equation["link"] == "logistic":
        return 1.0 / (1.0 + math.exp(-z))
    return -math.expm1(-math.exp(z))


def probability(equation: dict, inputs: Mapping[str, Value]) -> float:
    """The published equation's risk for one patient."""
    g = group_index(equation, inputs)
    return link(equation, linear_sum(equation, inputs) + link_offset(equation, g))
