"""The v2 pipeline's export check (`training.export`), frozen: superseded by
`training.model_contract`.

This module's code is covered by the code hash the signed v2 release records
(`train.MODEL_DETERMINING_MODULES`), so it stays exactly as it checked v2: a subset of the
model contract (docs/model-format.md, "The model contract (schema 1)") under the same names,
without `index_top_digits` and `accumulator_overflow` (which the v2 layout guarantees by
construction and the Rust loader refuses anyway), plus two limits the contract no longer has:
`boundaries_per_bucket`, which circuit v2's lookup does not need (it splits a bucket's level
changes across lookup groups), and `contribution_width`, implied by `accumulator_overflow`.
New exports (`train_v3`) use `training.model_contract.check_model`.

TFHE blocks here carry 2-bit digits (message modulus 4) in a 16-value block space; a block
can absorb at most MAX_NOISE_LEVEL additions before it must be bootstrapped.
"""
from __future__ import annotations

from training.integer_pipeline import contribution, digit_count, max_digit, rounded_shift

MESSAGE_MODULUS = 4
BLOCK_SPACE = 16
MAX_NOISE_LEVEL = 5
INDEX_BITS_ALLOWED = (4, 6, 8)


class CircuitLimitError(ValueError):
    """A model the encrypted circuit cannot evaluate exactly; `limit` names the rule."""

    def __init__(self, limit: str, detail: str):
        super().__init__(f"circuit limit `{limit}` violated: {detail}")
        self.limit = limit


def digit_tables(doc: dict) -> list[list[int]]:
    """Per-digit contribution tables in model order (feature by feature, low digit first)."""
    shift = doc["linear"]["grain_shift"]
    tables = []
    for w, f in zip(doc["weights"], doc["features"]):
        for j in range(digit_count(f["bits"])):
            tables.append([contribution(w, d, j, shift)
                           for d in range(max_digit(f["bits"], j) + 1)])
    return tables


def check_circuit_limits(doc: dict) -> None:
    """Raise CircuitLimitError for the first limit `doc` (a model.json dict) violates (the
    frozen v2 subset; see the module docstring)."""
    acc_bits = doc["linear"]["accumulator_bits"]
    index = doc["index"]
    if acc_bits % 2 or index["shift"] % 2:
        raise CircuitLimitError("whole_digits",
                                "accumulator bits and index shift must be multiples of 2")
    if index["bits"] not in INDEX_BITS_ALLOWED:
        raise CircuitLimitError("index_bits", f"index has {index['bits']} bits; allowed 4, 6 or 8")
    columns = acc_bits // 2
    min_sum = 0
    for t in digit_tables(doc):
        low = min(t)
        min_sum += low
        top = max(v - low for v in t)
        width = 0
        while top > 0:
            top >>= 2
            width += 1
        if width > columns:
            raise CircuitLimitError("contribution_width",
                                    f"a digit contribution needs {width} digits, the accumulator "
                                    f"has {columns}")
    constant = rounded_shift(doc["bias"], doc["linear"]["grain_shift"]) + min_sum + index["offset"]
    if not 0 <= constant < (1 << acc_bits):
        raise CircuitLimitError("accumulator_constant",
                                f"constant {constant} outside [0, 2^{acc_bits})")
    lut = doc["lut"]
    levels = sorted(set(lut))
    if len(levels) > BLOCK_SPACE:
        raise CircuitLimitError("probability_levels",
                                f"the table has {len(levels)} levels; "
                                f"at most {BLOCK_SPACE} fit one block")
    if any(b < a for a, b in zip(lut, lut[1:])):
        raise CircuitLimitError("monotone_table", "the probability table must be non-decreasing")
    for h in range(len(lut) // 16):
        bucket = lut[16 * h:16 * h + 16]
        boundaries = sum(1 for a, b in zip(bucket, bucket[1:]) if b > a)
        if 1 + boundaries > MAX_NOISE_LEVEL:
            raise CircuitLimitError("boundaries_per_bucket",
                                    f"index bucket {h} holds {boundaries} level boundaries; "
                                    f"at most {MAX_NOISE_LEVEL - 1}")
