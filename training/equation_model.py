"""Schema-2 models: a declared equation made into the integer pipeline every engine runs
(docs/model-format.md, "Schema 2"), and that pipeline, Python side.

Steps (all integers after step 2; the binary64 formulas are written in the order Rust uses):

1. terms t_i from the validated inputs (`training/equation_eval.py`); the group g from the
   choice inputs (sex, race); never sent in the clear.
2. q_i = floor((clamp(t_i, lo_i, hi_i) - lo_i) / step_i + 0.5), a code of `bits_i` bits (at
   most 2^bits_i - 1); [lo_i, hi_i] is the term's proven range over the published input
   ranges, so the clamp never acts for a valid patient. A yes/no term is coded 0 or
   GROUP_CODE = 2^10 (step 2^-10).
3. Exact products: with W_gi = round(w_gi * step_i * 2^(G + P)) and
   B_g = round((sum of w_gi * lo_i + constant terms + link offset) * 2^G),
   acc = B_g * 2^P + sum of W_gi * q_i, the linear sum in units of 2^-(G + P). Equivalently
   acc = sum of slot weight x slot value over every group's slots (`slot_weights`,
   `slot_values`): per group g its W_gi, then the group slot B_g * 2^(P - GROUP_CODE_BITS);
   the patient's group holds its codes and GROUP_CODE, every other group zeros.
4. idx = (acc + offset) >> shift, offset = -acc_min (the smallest acc any group can reach),
   shift = P + INDEX_SHIFT.
5. p = table[idx] in units of 1/10000; the table is the link at the centre of each index bin.
6. category: the first band whose `below` exceeds p.

Under encryption step 3 runs on the evaluator as one linear combination of encrypted slots
with these small integer weights (no bootstrapping), so the group's coefficients apply without
revealing the group; the client decrypts the result and reads steps 4-6 from the signed table.
"""
from __future__ import annotations

import math

from training import equation_eval as E
from training.equation_bounds import term_intervals

SCHEMA_VERSION = 2
GRAIN_BITS = 10  # G: term quantization error at most 2^-10 on the linear-sum scale
WEIGHT_BITS = 12  # P: extra fraction bits of the integer weights (acc unit 2^-(G + P))
GROUP_CODE_BITS = 10  # the group slot holds GROUP_CODE = 2^10 (a yes/no term's "yes" too)
GROUP_CODE = 1 << GROUP_CODE_BITS
INDEX_SHIFT = 2  # index bin 2^-8 of the linear sum: near 50 % one bin is < 0.1 pp
SHIFT = WEIGHT_BITS + INDEX_SHIFT  # idx = (acc + offset) >> SHIFT
PLAINTEXT_BITS = 27  # encryption limit: acc_max - acc_min < 2^27
MAX_SLOT_WEIGHT_MASS = 1 << 18  # encryption limit: sum of |slot weight| (noise grows with it)
PROBABILITY_SCALE = 10000
CATEGORIES = [
    {"name": "low", "below": 500},
    {"name": "borderline", "below": 750},
    {"name": "intermediate", "below": 2000},
    {"name": "high", "below": None},
]


def code_bits(levels_needed: float) -> int:
    """The fewest bits whose codes resolve `levels_needed` steps."""
    return max(1, math.ceil(math.log2(levels_needed + 1)))


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
            # "yes" is coded GROUP_CODE, like the group slot: a small weight, coef * 2^P.
            lo, hi, bits, step = 0.0, 1.0, GROUP_CODE_BITS + 1, 2.0 ** -GROUP_CODE_BITS
        else:
            bits = code_bits((hi - lo) * largest / (2 * max_error))
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
            "terms": [{k: t[k] for k in ("term", "min", "max", "step", "bits")} for t in encoded],
        },
        "linear": {
            "grain_bits": GRAIN_BITS,
            "weight_bits": WEIGHT_BITS,
            "group_code_bits": GROUP_CODE_BITS,
            "weights": weights,
            "bias": biases,
        },
    }
    acc_min, acc_max = acc_bounds(model)
    offset = -acc_min
    index_max = (acc_max + offset) >> SHIFT
    model["linear"]["acc_min"] = acc_min
    model["linear"]["acc_max"] = acc_max
    check_limits(model)
    model["index"] = {"offset": offset, "shift": SHIFT, "max": index_max}
    model["output"] = {
        "probability_scale": PROBABILITY_SCALE,
        "table": output_table(equation, offset, index_max),
        "categories": CATEGORIES,
    }
    return model


def max_code(term: dict) -> int:
    """The code of the term's range maximum: the largest code a valid patient can have."""
    return quantize(term["max"], term["min"], term["max"], term["step"], term["bits"])


def acc_bounds(model: dict) -> tuple[int, int]:
    """Exact bounds of the accumulator: per group g, B_g * 2^P plus each term's extreme
    product W_gi * q over q in [0, max code]; then the extremes over the groups."""
    terms = model["encoding"]["terms"]
    linear = model["linear"]
    tops = [max_code(t) for t in terms]
    lows, highs = [], []
    for row, b in zip(linear["weights"], linear["bias"]):
        base = b << linear["weight_bits"]
        lows.append(base + sum(min(0, w * top) for w, top in zip(row, tops)))
        highs.append(base + sum(max(0, w * top) for w, top in zip(row, tops)))
    return min(lows), max(highs)


def slot_weights(model: dict) -> list[int]:
    """Group-major: for every group, its term weights then its group slot's weight
    B_g * 2^(P - GROUP_CODE_BITS) (an exact integer: P >= GROUP_CODE_BITS)."""
    linear = model["linear"]
    up = linear["weight_bits"] - linear["group_code_bits"]
    assert up >= 0, "weight_bits must be at least group_code_bits"
    return [w for row, b in zip(linear["weights"], linear["bias"]) for w in [*row, b << up]]


def slot_values(model: dict, group: int, codes: list[int]) -> list[int]:
    """In `slot_weights` order: the patient's group holds its codes and 2^group_code_bits,
    every other group zeros."""
    linear = model["linear"]
    terms = len(model["encoding"]["terms"])
    assert len(codes) == terms, "one code per encoded term"
    values = []
    for g in range(len(linear["weights"])):
        values += [*codes, 1 << linear["group_code_bits"]] if g == group else [0] * (terms + 1)
    return values


def slot_weight_mass(model: dict) -> int:
    """The sum of |slot weight| over every slot (the encrypted sum's noise grows with it)."""
    return sum(abs(w) for w in slot_weights(model))


def check_limits(model: dict) -> None:
    """The two encryption limits the loader also enforces, naming the field."""
    linear = model["linear"]
    if linear["acc_max"] - linear["acc_min"] >= 1 << PLAINTEXT_BITS:
        raise ValueError(f"linear.acc_max: the accumulator range "
                         f"{linear['acc_max'] - linear['acc_min']} is not below 2^{PLAINTEXT_BITS}")
    mass = slot_weight_mass(model)
    if mass > MAX_SLOT_WEIGHT_MASS:
        raise ValueError(f"linear.weights: the slot weight mass {mass} is over "
                         f"{MAX_SLOT_WEIGHT_MASS}")


def output_table(equation: dict, offset: int, index_max: int) -> list[int]:
    """p(idx) in units of 1/10000: the link at the centre of each index bin."""
    width = 1 << SHIFT
    table = []
    for idx in range(index_max + 1):
        centre = (idx * width - offset + (width - 1) / 2) / 2.0 ** (GRAIN_BITS + WEIGHT_BITS)
        table.append(math.floor(E.link(equation, centre) * PROBABILITY_SCALE + 0.5))
    return table


def quantize(value: float, lo: float, hi: float, step: float, bits: int) -> int:
    """Step 2 (the clamps never act for a valid patient; they keep a code in range)."""
    q = math.floor((min(max(value, lo), hi) - lo) / step + 0.5)
    return min(max(q, 0), (1 << bits) - 1)


def accumulate(model: dict, group: int, codes: list[int]) -> int:
    """Step 3: B_g * 2^P + sum of W_gi * q_i, exact."""
    linear = model["linear"]
    acc = linear["bias"][group] << linear["weight_bits"]
    return acc + sum(w * q for w, q in zip(linear["weights"][group], codes))


def run(model: dict, inputs: dict) -> dict:
    """Steps 1-6 for one validated patient; every intermediate, for golden vectors."""
    equation = model["equation"]
    names = [t["name"] for t in equation["terms"]]
    values = E.term_values(equation, inputs)
    g = E.group_index(equation, inputs)
    codes = [quantize(values[names.index(t["term"])], t["min"], t["max"], t["step"], t["bits"])
             for t in model["encoding"]["terms"]]
    acc = accumulate(model, g, codes)
    index = model["index"]
    idx = (acc + index["offset"]) >> index["shift"]
    if not 0 <= idx <= index["max"]:
        raise ValueError("the index is outside the table: the model's bounds are wrong")
    p = model["output"]["table"][idx]
    return {"group": g, "codes": codes, "acc": acc, "index": idx,
            "probability": p, "category": category(model, p)}


def category(model: dict, p: int) -> str:
    for band in model["output"]["categories"]:
        if band["below"] is None or p < band["below"]:
            return band["name"]
    raise ValueError("categories must end with an open band")
