"""Schema-2 models: a declared equation made into the integer pipeline every engine runs
(docs/model-format.md, "Schema 2"), and that pipeline, Python side.

Steps (all integers after step 2; the binary64 formulas are written in the order Rust uses):

1. terms t_i from the validated inputs (`training/equation_eval.py`); the group g from the
   choice inputs (sex, race); never sent in the clear.
2. q_i = floor((clamp(t_i, lo_i, hi_i) - lo_i) / step_i + 0.5), a code of `bits_i` bits;
   [lo_i, hi_i] is the term's proven range over the published input ranges, so the clamp
   never acts for a valid patient.
3. q_i is split into base-4 digits d_ij; with W_gi = round(w_gi * step_i * 2^(G + P)),
   c_gij(d) = (W_gi * d * 4^j + 2^(P-1)) >> P   (arithmetic shift: round half up),
   acc = B_g + sum of c_gij(d_ij), B_g = round((sum of w_gi * lo_i + constant terms
   + link offset) * 2^G). acc is the linear sum in units of 2^-G.
4. idx = (acc + offset) >> shift, offset = -(smallest acc any group can reach).
5. p = table[idx] in units of 1/10000; the table is the link at the centre of each index bin.
6. category: the first band whose `below` exceeds p.

Under encryption steps 3-4 run on the evaluator (each TFHE block carries one digit with the
group packed above it, so the group's coefficients are chosen without revealing it); the client
decrypts idx and reads steps 5-6 from the signed table.
"""
from __future__ import annotations

import math

from training import equation_eval as E
from training.equation_bounds import term_intervals

SCHEMA_VERSION = 2
DIGIT_BITS = 2
GRAIN_BITS = 10  # accumulator unit 2^-10 on the linear-sum scale
WEIGHT_BITS = 12  # extra fraction bits of the integer weights, rounded away per digit
INDEX_SHIFT = 2  # index bin 2^-8: one bin moves a probability near 50 % by < 0.1 pp
PROBABILITY_SCALE = 10000
CATEGORIES = [
    {"name": "low", "below": 500},
    {"name": "borderline", "below": 750},
    {"name": "intermediate", "below": 2000},
    {"name": "high", "below": None},
]


def even_bits(levels_needed: float) -> int:
    bits = max(1, math.ceil(math.log2(levels_needed + 1)))
    return bits + (bits % 2)


def is_yes_no(equation: dict, spec: dict) -> bool:
    expr = spec["expr"]
    if "input" not in expr:
        return False
    return any(i["name"] == expr["input"] and i["kind"] == "binary" for i in equation["inputs"])


def build(equation: dict, model_id: str, version: int, description: str,
          eligibility: dict) -> dict:
    """The schema-2 model of `equation` (without signature)."""
    ranges = term_intervals(equation)
    groups = equation["groups"]
    max_error = 2.0 ** -GRAIN_BITS  # per term, on the linear-sum scale
    encoded = []
    bias = [0.0] * len(groups)
    for i, (spec, (lo, hi)) in enumerate(zip(equation["terms"], ranges)):
        coefs = [g["coefficients"][i] for g in groups]
        largest = max(abs(c) for c in coefs)
        if hi == lo or largest == 0.0:
            for g, c in enumerate(coefs):
                bias[g] += c * lo
            continue
        if is_yes_no(equation, spec):
            lo, bits, step = 0.0, 1, 1.0
        else:
            bits = even_bits((hi - lo) * largest / (2 * max_error))
            step = (hi - lo) / ((1 << bits) - 1)
        for g, c in enumerate(coefs):
            bias[g] += c * lo
        encoded.append({"term": spec["name"], "index": i, "min": lo, "max": hi,
                        "step": step, "bits": bits})
    scale = 2.0 ** (GRAIN_BITS + WEIGHT_BITS)
    weights = [[round(g["coefficients"][t["index"]] * t["step"] * scale) for t in encoded]
               for g in groups]
    biases = [round((b + E.link_offset(equation, gi)) * 2.0 ** GRAIN_BITS)
              for gi, b in enumerate(bias)]
    model = {
        "schema_version": SCHEMA_VERSION,
        "model_id": model_id,
        "version": version,
        "description": description,
        "equation": equation,
        "eligibility": eligibility,
        "encoding": {
            "digit_bits": DIGIT_BITS,
            "terms": [{k: t[k] for k in ("term", "min", "max", "step", "bits")} for t in encoded],
        },
        "linear": {
            "grain_bits": GRAIN_BITS,
            "weight_bits": WEIGHT_BITS,
            "weights": weights,
            "bias": biases,
        },
    }
    acc_min, acc_max = acc_bounds(model)
    offset = -acc_min
    index_max = (acc_max + offset) >> INDEX_SHIFT
    model["linear"]["acc_min"] = acc_min
    model["linear"]["acc_max"] = acc_max
    model["index"] = {"offset": offset, "shift": INDEX_SHIFT, "max": index_max}
    model["output"] = {
        "probability_scale": PROBABILITY_SCALE,
        "table": output_table(equation, offset, index_max),
        "categories": CATEGORIES,
    }
    return model


def digit_count(bits: int) -> int:
    return (bits + DIGIT_BITS - 1) // DIGIT_BITS


def max_digit(bits: int, j: int) -> int:
    return min(3, ((1 << bits) - 1) >> (DIGIT_BITS * j))


def contribution(weight: int, digit: int, position: int) -> int:
    """c(d) = (W * d * 4^j + 2^(P-1)) >> P."""
    return (weight * digit * (4 ** position) + (1 << (WEIGHT_BITS - 1))) >> WEIGHT_BITS


def acc_bounds(model: dict) -> tuple[int, int]:
    """Bounds of the accumulator: the smallest bias plus, for every digit, its smallest
    contribution over every group and digit value (and likewise the largest). Taking each
    digit's extreme over all groups independently is looser than per group, but it is what the
    encrypted circuit's unsigned accumulator needs (its blocks carry the group with the digit).
    """
    terms = model["encoding"]["terms"]
    rows = model["linear"]["weights"]
    lo, hi = min(model["linear"]["bias"]), max(model["linear"]["bias"])
    for k, t in enumerate(terms):
        for j in range(digit_count(t["bits"])):
            values = [contribution(row[k], d, j)
                      for row in rows for d in range(max_digit(t["bits"], j) + 1)]
            lo += min(values)
            hi += max(values)
    return lo, hi


def output_table(equation: dict, offset: int, index_max: int) -> list[int]:
    """p(idx) in units of 1/10000: the link at the centre of each index bin."""
    width = 1 << INDEX_SHIFT
    table = []
    for idx in range(index_max + 1):
        centre = (idx * width - offset + (width - 1) / 2) / 2.0 ** GRAIN_BITS
        table.append(math.floor(E.link(equation, centre) * PROBABILITY_SCALE + 0.5))
    return table


def quantize(value: float, lo: float, hi: float, step: float, bits: int) -> int:
    """Step 2 (the clamps never act for a valid patient; they keep a code in range)."""
    q = math.floor((min(max(value, lo), hi) - lo) / step + 0.5)
    return min(max(q, 0), (1 << bits) - 1)


def run(model: dict, inputs: dict) -> dict:
    """Steps 1-6 for one validated patient; every intermediate, for golden vectors."""
    equation = model["equation"]
    names = [t["name"] for t in equation["terms"]]
    values = E.term_values(equation, inputs)
    g = E.group_index(equation, inputs)
    codes, digits = [], []
    acc = model["linear"]["bias"][g]
    for t, w in zip(model["encoding"]["terms"], model["linear"]["weights"][g]):
        q = quantize(values[names.index(t["term"])], t["min"], t["max"], t["step"], t["bits"])
        codes.append(q)
        for j in range(digit_count(t["bits"])):
            d = (q >> (DIGIT_BITS * j)) & 3
            digits.append(d)
            acc += contribution(w, d, j)
    index = model["index"]
    idx = (acc + index["offset"]) >> index["shift"]
    if not 0 <= idx <= index["max"]:
        raise ValueError("the index is outside the table: the model's bounds are wrong")
    p = model["output"]["table"][idx]
    return {"group": g, "codes": codes, "digits": digits, "acc": acc, "index": idx,
            "probability": p, "category": category(model, p)}


def category(model: dict, p: int) -> str:
    for band in model["output"]["categories"]:
        if band["below"] is None or p < band["below"]:
            return band["name"]
    raise ValueError("categories must end with an open band")
