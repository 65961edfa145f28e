"""Proven ranges of an equation's terms over its published input ranges (interval arithmetic).

The quantized encoding of a term needs a range that every valid patient falls in, so that the
code never saturates: interval arithmetic gives a bound that is always safe (it may be wider
than the true range when a term uses one input twice, which only costs a bit of resolution).
"""
from __future__ import annotations

import math


def input_interval(spec: dict) -> tuple[float, float] | None:
    """Range of a numeric input: its published range; 0..1 for a yes/no answer; None for a
    choice (choices select coefficient sets, they never enter a term)."""
    kind = spec["kind"]
    if kind == "binary":
        return (0.0, 1.0)
    if isinstance(kind, dict) and "number" in kind:
        return (float(kind["number"]["min"]), float(kind["number"]["max"]))
    return None


def interval(expr: dict, inputs: dict, terms: dict) -> tuple[float, float]:
    """A range containing the expression's value for every valid input."""
    ((op, arg),) = expr.items()
    if op == "input":
        found = inputs.get(arg)
        if found is None:
            raise ValueError(f"input {arg!r} has no numeric range")
        return found
    if op == "term":
        return terms[arg]
    if op == "const":
        return (float(arg), float(arg))
    if op == "ln":
        lo, hi = interval(arg, inputs, terms)
        if lo <= 0:
            raise ValueError("ln of a range that reaches zero")
        return (math.log(lo), math.log(hi))
    (alo, ahi), (blo, bhi) = (interval(x, inputs, terms) for x in arg)
    if op == "add":
        return (alo + blo, ahi + bhi)
    if op == "sub":
        return (alo - bhi, ahi - blo)
    if op == "mul":
        corners = [alo * blo, alo * bhi, ahi * blo, ahi * bhi]
        return (min(corners), max(corners))
    if op == "div":
        if blo <= 0 <= bhi:
            raise ValueError("division by a range that contains zero")
        corners = [alo / blo, alo / bhi, ahi / blo, ahi / bhi]
        return (min(corners), max(corners))
    if op == "min":
        return (min(alo, blo), min(ahi, bhi))
    if op == "max":
        return (max(alo, blo), max(ahi, bhi))
    raise ValueError(f"unknown expression operator {op!r}")


def term_intervals(equation: dict) -> list[tuple[float, float]]:
    """Every term's proven range, in coefficient order."""
    inputs = {}
    for spec in equation["inputs"]:
        found = input_interval(spec)
        if found is not None:
            inputs[spec["name"]] = found
    done: dict[str, tuple[float, float]] = {}
    for spec in equation["terms"]:
        done[spec["name"]] = interval(spec["expr"], inputs, done)
    return [done[spec["name"]] for spec in equation["terms"]]
