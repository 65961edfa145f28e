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
   Weight digits (several outputs): every slot weight W is split into D base-2^k digits,
   W = sum_j W_j * 2^(k j), the lower ones in [0, 2^k), the top one W >> (k (D - 1)) (signed);
   output j is A_j = sum of W_j x slot value, and acc = sum_j 2^(k j) * A_j. D = 1 (no
   `weight_digit_bits`/`outputs` fields) is the plain form: A_0 = acc.
4. idx = (acc + offset) >> shift, offset = -acc_min (the smallest acc any group can reach),
   shift = P + INDEX_SHIFT.
5. p = table[idx] in units of 1/10000; the table is the link at the centre of each index bin.
6. category: the first band whose `below` exceeds p.

Under encryption step 3 runs on the evaluator as D linear combinations of the encrypted slots
with these small integer weights (no bootstrapping), so the group's coefficients apply without
revealing the group; the client decrypts the D outputs, recombines acc and reads steps 4-6 from
the signed table.

Parameters, chosen from the limits, never from fidelity figures: G = 10 (each term's
quantization error at most 2^-10 on the linear-sum scale); P the smallest value >= 12 that keeps
each term's weight rounding error, 0.5 * max code * 2^-(G + P), at most a quarter of that
(P >= widest code + 1); then the fewest outputs D (and for D > 1 the widest digit k) with every
output inside both encryption limits: its exact range below 2^27 and its weight mass at most
2^18.
"""
from __future__ import annotations

import math
from typing import Any

from training import equation_eval as E
from training.equation_bounds import term_intervals

SCHEMA_VERSION = 2
GRAIN_BITS = 10  # G: term quantization error at most 2^-10 on the linear-sum scale
WEIGHT_BITS = 12  # the smallest P: extra fraction bits of the integer weights (acc unit 2^-(G + P))
WEIGHT_ROUNDING_MARGIN = 2  # weight rounding error at most 2^-(G + 2) per term: P >= bits + 1
GROUP_CODE_BITS = 10  # the group slot holds GROUP_CODE = 2^10 (a yes/no term's "yes" too)
GROUP_CODE = 1 << GROUP_CODE_BITS
INDEX_SHIFT = 2  # index bin 2^-8 of the linear sum: near 50 % one bin is < 0.1 pp
SHIFT = WEIGHT_BITS + INDEX_SHIFT  # idx = (acc + offset) >> SHIFT when P = 12
MAX_INDEX_BITS = 18  # the output table has at most 2^18 entries
PLAINTEXT_BITS = 27  # encryption limit, per output: its range max - min < 2^27
# encryption limit, per output: sum of |weight| (noise grows with it)
MAX_SLOT_WEIGHT_MASS = 1 << 18
MAX_OUTPUTS = 8  # most weight digits (encrypted outputs) per model
MAX_DIGIT_BITS = 18  # a lower digit is below 2^k, and k <= 18 keeps it under the mass limit
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
    for i, (spec, (lo, hi)) in enumerate(zip(equation["terms"], ranges, strict=True)):
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
    weight_bits = choose_weight_bits(encoded)
    scale = 2.0 ** (GRAIN_BITS + weight_bits)
    weights = [[round(g["coefficients"][t["index"]] * t["step"] * scale) for t in encoded]
               for g in groups]
    biases = [round((b + E.link_offset(equation, gi)) * 2.0 ** GRAIN_BITS)
              for gi, b in enumerate(bias)]
    model: dict[str, Any] = {
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
            "weight_bits": weight_bits,
            "group_code_bits": GROUP_CODE_BITS,
            "weights": weights,
            "bias": biases,
        },
    }
    acc_min, acc_max = acc_bounds(model)
    offset = -acc_min
    shift = weight_bits + INDEX_SHIFT
    index_max = (acc_max + offset) >> shift
    if index_max >= 1 << MAX_INDEX_BITS:
        raise ValueError(f"index.max: {index_max} needs more than {MAX_INDEX_BITS} index bits")
    model["linear"]["acc_min"] = acc_min
    model["linear"]["acc_max"] = acc_max
    choose_outputs(model)
    check_limits(model)
    model["index"] = {"offset": offset, "shift": shift, "max": index_max}
    model["output"] = {
        "probability_scale": PROBABILITY_SCALE,
        "table": output_table(equation, offset, index_max, weight_bits),
        "categories": CATEGORIES,
    }
    return model


def choose_weight_bits(encoded: list[dict]) -> int:
    """P: the smallest value >= WEIGHT_BITS such that every term's weight rounding error,
    at most 0.5 * 2^bits units of 2^-(G + P), stays within 2^-(G + WEIGHT_ROUNDING_MARGIN), a
    quarter of its quantization error bound 2^-G (P >= bits + 1)."""
    widest = max((t["bits"] for t in encoded), default=0)
    return max(WEIGHT_BITS, widest - 1 + WEIGHT_ROUNDING_MARGIN)


def choose_outputs(model: dict) -> None:
    """The fewest outputs D (then, for D > 1, the widest digit k) whose every output is inside
    both encryption limits; D = 1 leaves the document as it is, D > 1 adds
    `linear.weight_digit_bits` and `linear.outputs` (each output's exact bounds)."""
    linear = model["linear"]
    linear.pop("weight_digit_bits", None)
    linear.pop("outputs", None)
    if not limit_errors(model):
        return
    for outputs in range(2, MAX_OUTPUTS + 1):
        for k in range(MAX_DIGIT_BITS, 0, -1):
            linear["weight_digit_bits"] = k
            linear["outputs"] = [{"acc_min": lo, "acc_max": hi}
                                 for lo, hi in output_bounds(model, k, outputs)]
            if not limit_errors(model):
                return
    linear.pop("weight_digit_bits")
    linear.pop("outputs")
    check_limits(model)  # raises with the plain form's error


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
    for row, b in zip(linear["weights"], linear["bias"], strict=True):
        base = b << linear["weight_bits"]
        lows.append(base + sum(min(0, w * top) for w, top in zip(row, tops, strict=True)))
        highs.append(base + sum(max(0, w * top) for w, top in zip(row, tops, strict=True)))
    return min(lows), max(highs)


def slot_weights(model: dict) -> list[int]:
    """Group-major: for every group, its term weights then its group slot's weight
    B_g * 2^(P - GROUP_CODE_BITS) (an exact integer: P >= GROUP_CODE_BITS)."""
    linear = model["linear"]
    up = linear["weight_bits"] - linear["group_code_bits"]
    assert up >= 0, "weight_bits must be at least group_code_bits"
    return [w for row, b in zip(linear["weights"], linear["bias"], strict=True)
            for w in [*row, b << up]]


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


def digits(w: int, k: int, outputs: int) -> list[int]:
    """W = sum_j W_j * 2^(k j): the lower digits in [0, 2^k), the top one W >> (k (D - 1))."""
    low = [(w >> (k * j)) & ((1 << k) - 1) for j in range(outputs - 1)]
    return [*low, w >> (k * (outputs - 1))]


def output_count(model: dict) -> int:
    """D: the number of encrypted outputs (1 without `linear.outputs`)."""
    return len(model["linear"].get("outputs", [None]))


def digit_bits(model: dict) -> int:
    """k (0 for a single output: its one digit is the whole weight)."""
    return model["linear"].get("weight_digit_bits", 0)


def output_weights(model: dict, k: int | None = None,
                   outputs: int | None = None) -> list[list[int]]:
    """Per output j, the slot weights' digit j (in `slot_weights` order)."""
    k = digit_bits(model) if k is None else k
    outputs = output_count(model) if outputs is None else outputs
    per_slot = [digits(w, k, outputs) for w in slot_weights(model)]
    return [[d[j] for d in per_slot] for j in range(outputs)]


def output_bounds(model: dict, k: int | None = None,
                  outputs: int | None = None) -> list[tuple[int, int]]:
    """Exact bounds of every output A_j: per group, the group slot's digit times 2^10 plus each
    term slot's extreme product over q in [0, max code]; then the extremes over the groups."""
    tops = [max_code(t) for t in model["encoding"]["terms"]] + [GROUP_CODE]
    width = len(tops)
    bounds = []
    for row in output_weights(model, k, outputs):
        lows, highs = [], []
        for g in range(len(row) // width):
            ws = row[g * width:(g + 1) * width]
            base = ws[-1] * GROUP_CODE
            # the term slots (the group slot, last, is `base`)
            lows.append(base + sum(min(0, w * top)
                                   for w, top in zip(ws[:-1], tops[:-1], strict=True)))
            highs.append(base + sum(max(0, w * top)
                                    for w, top in zip(ws[:-1], tops[:-1], strict=True)))
        bounds.append((min(lows), max(highs)))
    return bounds


def output_values(model: dict, group: int, codes: list[int]) -> list[int]:
    """A_j for one patient (without any offset); sum_j 2^(k j) A_j is the accumulator."""
    values = slot_values(model, group, codes)
    return [sum(w * v for w, v in zip(row, values, strict=True)) for row in output_weights(model)]


def recombine(model: dict, outputs: list[int]) -> int:
    """acc = sum_j 2^(k j) A_j."""
    k = digit_bits(model)
    return sum(a << (k * j) for j, a in enumerate(outputs))


def limit_errors(model: dict) -> list[str]:
    """Every encryption limit the model breaks, each naming the field (empty: within)."""
    linear = model["linear"]
    errors = []
    if "outputs" not in linear:
        if linear["acc_max"] - linear["acc_min"] >= 1 << PLAINTEXT_BITS:
            errors.append(f"linear.acc_max: the accumulator range "
                          f"{linear['acc_max'] - linear['acc_min']} is not below "
                          f"2^{PLAINTEXT_BITS}")
        mass = slot_weight_mass(model)
        if mass > MAX_SLOT_WEIGHT_MASS:
            errors.append(f"linear.weights: the slot weight mass {mass} is over "
                          f"{MAX_SLOT_WEIGHT_MASS}")
        return errors
    for j, (out, row) in enumerate(zip(linear["outputs"], output_weights(model), strict=True)):
        if out["acc_max"] - out["acc_min"] >= 1 << PLAINTEXT_BITS:
            errors.append(f"linear.outputs[{j}].acc_max: output {j}'s range "
                          f"{out['acc_max'] - out['acc_min']} is not below 2^{PLAINTEXT_BITS}")
        mass = sum(abs(w) for w in row)
        if mass > MAX_SLOT_WEIGHT_MASS:
            errors.append(f"linear.weight_digit_bits: output {j}'s weight mass {mass} is over "
                          f"{MAX_SLOT_WEIGHT_MASS}")
    return errors


def check_limits(model: dict) -> None:
    """The encryption limits the loader also enforces, per output, naming the field."""
    errors = limit_errors(model)
    if errors:
        raise ValueError(errors[0])


def output_table(equation: dict, offset: int, index_max: int,
                 weight_bits: int = WEIGHT_BITS) -> list[int]:
    """p(idx) in units of 1/10000: the link at the centre of each index bin."""
    width = 1 << (weight_bits + INDEX_SHIFT)
    table = []
    for idx in range(index_max + 1):
        centre = (idx * width - offset + (width - 1) / 2) / 2.0 ** (GRAIN_BITS + weight_bits)
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
    return acc + sum(w * q for w, q in zip(linear["weights"][group], codes, strict=True))


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
    out = {"group": g, "codes": codes, "acc": acc}
    if "outputs" in model["linear"]:
        outputs = output_values(model, g, codes)
        if recombine(model, outputs) != acc:
            raise ValueError("the outputs do not recombine to the accumulator")
        out["outputs"] = outputs
    return {**out, "index": idx, "probability": p, "category": category(model, p)}


def category(model: dict, p: int) -> str:
    for band in model["output"]["categories"]:
        if band["below"] is None or p < band["below"]:
            return band["name"]
    raise ValueError("categories must end with an open band")
