"""The integer inference pipeline (ARCHITECTURE.md steps 2-6), Python side.

This is one of the three implementations (Python, the Rust reference engine, the TFHE engine)
that must agree bit for bit, so every step is integer arithmetic or a binary64 formula whose
operation order is fixed and written in model.json:

1b. a feature with `counts_from` {feature, at_least} counts only when that feature's raw value
   is >= at_least; otherwise its value is taken as clamp_min (NHANES asks the chest-pain items
   from age 40 only: below, the answer is recorded but does not count).
2. x = floor((clamp(v, lo, hi) - lo) * L / (hi - lo) + 0.5), L = 2^bits - 1.
3. x is split into base-4 digits d_j (2 bits each, what one TFHE block carries);
   c_j(d) = sign(w) * ((|w| * d * 4^j) >> s)   (truncation toward zero; s = grain_shift),
   logit = ((bias + 2^(s-1)) >> s) + sum of c_j over all features and digits.
4. idx = clamp((logit + offset) >> shift, 0, 2^k - 1); offset and shift are chosen from the proven
   logit bounds so that the clamp never acts (checked by `check_bounds`).
5. p = lut[idx] (units of 1/4096).
6. high = p >= threshold.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

DIGIT_BITS = 2
DIGIT_BASE = 1 << DIGIT_BITS


def quantize_value(value: float, lo: float, hi: float, bits: int) -> int:
    """Step 2 for one value: clamp to [lo, hi] and round to an integer code in [0, 2^bits - 1]."""
    levels = (1 << bits) - 1
    clamped = min(max(value, lo), hi)
    return int(math.floor((clamped - lo) * levels / (hi - lo) + 0.5))


def digit_count(bits: int) -> int:
    """How many base-4 digits a code of `bits` bits needs."""
    return (bits + DIGIT_BITS - 1) // DIGIT_BITS


def digits_of(code: int, bits: int) -> list[int]:
    """Little-endian base-4 digits of a code."""
    return [(code >> (DIGIT_BITS * j)) & (DIGIT_BASE - 1) for j in range(digit_count(bits))]


def max_digit(bits: int, j: int) -> int:
    """Largest value digit j can take for a code of `bits` bits."""
    return min(DIGIT_BASE - 1, ((1 << bits) - 1) >> (DIGIT_BITS * j))


def rounded_shift(value: int, shift: int) -> int:
    """Round-half-up division by 2^shift with an arithmetic (floor) shift."""
    if shift == 0:
        return value
    return (value + (1 << (shift - 1))) >> shift


def contribution(weight: int, digit: int, position: int, grain_shift: int) -> int:
    """Step 3 for one digit: the weight times the digit's value, on the 2^grain_shift grid.

    Truncated toward zero (not rounded to nearest): floor(p) + floor(q) <= floor(p + q), so the
    sum over digits stays monotone in the code in the weight's direction. Round-to-nearest per
    digit broke that by one grain step across digit carries (found by a property test).
    """
    value = weight * digit * (DIGIT_BASE ** position)
    magnitude = abs(value) >> grain_shift
    return magnitude if value >= 0 else -magnitude


@dataclass
class IntegerModel:
    """The integer part of model.json, enough to run steps 2-6."""

    clamp_lo: list[float]
    clamp_hi: list[float]
    bits: list[int]
    weights: list[int]
    bias: int
    grain_shift: int
    offset: int
    shift: int
    index_bits: int
    lut: list[int]
    threshold: int
    #: Step 1b, per feature: None, or (source feature index, at_least): the value counts only
    #: when the source's raw value is >= at_least, else it is taken as clamp_min ("no").
    gates: list = field(default_factory=list)

    def effective(self, raw: list[float]) -> list[float]:
        """Step 1b: a gated answer below its source's threshold counts as clamp_min."""
        out = list(raw)
        for i, gate in enumerate(self.gates):
            if gate is not None and raw[gate[0]] < gate[1]:
                out[i] = self.clamp_lo[i]
        return out

    def codes(self, raw: list[float]) -> list[int]:
        """Steps 1b and 2 for a whole patient."""
        return [quantize_value(v, lo, hi, b)
                for v, lo, hi, b in zip(self.effective(raw), self.clamp_lo, self.clamp_hi,
                                        self.bits)]

    @classmethod
    def from_doc(cls, doc: dict) -> "IntegerModel":
        """The integer pipeline of a model.json dict."""
        f = doc["features"]
        names = [x["name"] for x in f]
        gates = [(names.index(x["counts_from"]["feature"]), x["counts_from"]["at_least"])
                 if "counts_from" in x else None for x in f]
        return cls([x["clamp_min"] for x in f], [x["clamp_max"] for x in f], [x["bits"] for x in f],
                   doc["weights"], doc["bias"], doc["linear"]["grain_shift"],
                   doc["index"]["offset"], doc["index"]["shift"], doc["index"]["bits"], doc["lut"],
                   doc["threshold"], gates)

    def logit_part(self, feature: int, code: int) -> int:
        """Step 3 for one feature: the sum of its per-digit contributions."""
        w, b = self.weights[feature], self.bits[feature]
        return sum(contribution(w, d, j, self.grain_shift)
                   for j, d in enumerate(digits_of(code, b)))

    def logit(self, codes: list[int]) -> int:
        """Step 3: the per-digit rounded linear combination."""
        return rounded_shift(self.bias, self.grain_shift) + sum(
            self.logit_part(i, x) for i, x in enumerate(codes))

    def index(self, logit: int) -> int:
        """Step 4."""
        return min(max((logit + self.offset) >> self.shift, 0), (1 << self.index_bits) - 1)

    def run(self, raw: list[float]) -> dict:
        """Steps 2-6 for one patient, with every intermediate (a golden vector)."""
        x = self.codes(raw)
        logit = self.logit(x)
        idx = self.index(logit)
        p = self.lut[idx]
        return {"x": x, "logit": logit, "index": idx, "p": p, "high": p >= self.threshold}


def logit_bounds(weights: list[int], bias: int, bits: list[int],
                 grain_shift: int) -> tuple[int, int]:
    """Exact smallest and largest logit over every valid input (digits vary independently)."""
    lo = hi = rounded_shift(bias, grain_shift)
    for w, b in zip(weights, bits):
        for j in range(digit_count(b)):
            values = [contribution(w, d, j, grain_shift) for d in range(max_digit(b, j) + 1)]
            lo += min(values)
            hi += max(values)
    return lo, hi


def choose_linear_layout(weights: list[int], bias: int, bits: list[int], index_bits: int,
                         guard_digits: int) -> tuple[int, int, int]:
    """Smallest grain_shift such that the whole logit range fits 2^(index_bits + 2*guard) values.

    Returns (grain_shift, offset, shift) with offset = -min logit and shift = 2*guard_digits, so
    (logit + offset) >> shift is always within [0, 2^index_bits): no clamp is ever needed.
    """
    span_limit = 1 << (index_bits + DIGIT_BITS * guard_digits)
    for grain_shift in range(0, 40):
        lo, hi = logit_bounds(weights, bias, bits, grain_shift)
        if hi - lo < span_limit:
            return grain_shift, -lo, DIGIT_BITS * guard_digits
    raise ValueError("weights too large for any grain shift")
