"""The schema-1 model contract, checked at export time: every limit the Rust loader
(`Model::from_json`, crates/pulsecure-core/src/domain/model.rs) and the encrypted circuit
(`Model::check_circuit_limits`, run first by `CircuitPlan::compile`) enforce, in the same
order and under the same names (docs/model-format.md, "The model contract"), so that a model
the product would refuse is refused when it is exported, naming the limit.

The names and the order are `LIMITS`; `models/contract-cases.json` holds, per limit, a model
breaking it, and both test suites (training/tests/test_model_contract.py and
crates/pulsecure-core/tests/model_contract.rs) check their validator against it.

This module supersedes `training.circuit_limits` for new exports (`train_v3`). That module
stays as it is because its code is covered by the code hash the signed v2 release records
(`train.MODEL_DETERMINING_MODULES`), and so does the v2 exporter that calls it: it checks a
subset of the circuit limits, plus `boundaries_per_bucket`, which circuit v2 no longer needs.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from training.integer_pipeline import contribution, digit_count, max_digit, rounded_shift

SCHEMA_VERSION = 1
WEIGHT_SCALE = 4096
PROBABILITY_SCALE = 4096
DIGIT_BITS = 2
MAX_FEATURES = 12
MAX_CODE_BITS = 8
MAX_INDEX_BITS = 12
MAX_INDEX_SHIFT = 16
MAX_GRAIN_SHIFT = 30
MAX_ABS_WEIGHT = 1 << 24
MAX_ABS_BIAS = MAX_ABS_WEIGHT * 64
CIRCUIT_INDEX_BITS = (4, 6, 8)
MAX_PROBABILITY_LEVELS = 16
AGE_FEATURE = "age"
MODEL_ID_CHARACTERS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-")

#: Every limit, in the order they are checked (a model breaking several is refused naming
#: the first): the loader's, then the circuit's (`whole_digits` and `index_bits` are checked
#: again there, stricter: the reference engine alone reads an index of 1 to 12 bits).
LIMITS = (
    "schema_version", "schema_fields", "model_id", "version", "weight_scale", "digit_bits",
    "linear_mode", "probability_scale", "max_features", "weight_count", "feature_names",
    "feature_ranges", "binary_feature", "code_bits", "ordinal_feature", "counts_from",
    "weight_bits", "bias_bits", "grain_shift", "logit_bounds", "index_bits", "whole_digits",
    "index_shift", "index_top_digits", "accumulator_constant", "accumulator_overflow",
    "table_length", "probability_codes", "monotone_table", "threshold", "population_ages",
    "population_age_feature", "probability_levels",
)


class ModelContractError(ValueError):
    """A model breaking a limit of the contract; `limit` names it, `field` is where."""

    def __init__(self, limit: str, field: str, detail: str):
        assert limit in LIMITS, limit
        super().__init__(f"model limit `{limit}` (field `{field}`): {detail}")
        self.limit = limit
        self.field = field


# --- schema_fields: the shape serde reads (deny_unknown_fields everywhere) -----------------

Check = Callable[[Any], bool]


def _integer(lo: int, hi: int) -> Check:
    return lambda v: type(v) is int and lo <= v < hi


U32 = _integer(0, 1 << 32)
U64 = _integer(0, 1 << 64)
I64 = _integer(-(1 << 63), 1 << 63)


def F64(v: Any) -> bool:
    return type(v) in (int, float)


def STR(v: Any) -> bool:
    return isinstance(v, str)


def ANY(v: Any) -> bool:
    return True


def _list(item: Check) -> Check:
    return lambda v: isinstance(v, list) and all(item(x) for x in v)


#: Per object: field -> (check, presence) with presence "required", "default" (may be absent,
#: not null) or "option" (may be absent or null).
Shape = dict[str, tuple[Any, str]]
COUNTS_FROM: Shape = {"feature": (STR, "required"), "at_least": (F64, "required")}
FEATURE: Shape = {
    "name": (STR, "required"), "unit": (STR, "required"),
    "kind": (lambda v: v in ("continuous", "binary", "ordinal"), "required"),
    "description": (STR, "required"),
    "plausible_min": (F64, "required"), "plausible_max": (F64, "required"),
    "clamp_min": (F64, "required"), "clamp_max": (F64, "required"), "bits": (U32, "required"),
    "answers": (_list(STR), "default"), "counts_from": (COUNTS_FROM, "option"),
}
POPULATION: Shape = {
    "rule": (STR, "required"), "age_min": (F64, "required"), "age_max": (F64, "required"),
    "known_cvd_items": (_list(STR), "default"), "known_cvd": (STR, "default"),
}
TARGET: Shape = {"population": (POPULATION, "required"), "label": (ANY, "required"),
                 "prevent_version": (STR, "option")}
DOCUMENT: Shape = {
    "schema_version": (U32, "required"), "model_id": (STR, "required"),
    "version": (U64, "required"), "description": (STR, "required"),
    "features": ([FEATURE], "required"),
    "quantization": ({"input_rule": (STR, "required"), "digit_bits": (U32, "required"),
                      "weight_scale": (I64, "required")}, "required"),
    "weights": (_list(I64), "required"), "bias": (I64, "required"),
    "linear": ({"mode": (STR, "required"), "rule": (STR, "required"),
                "grain_shift": (U32, "required"), "logit_min": (I64, "required"),
                "logit_max": (I64, "required"), "accumulator_bits": (U32, "required")},
               "required"),
    "index": ({"offset": (I64, "required"), "shift": (U32, "required"),
               "bits": (U32, "required")}, "required"),
    "probability_scale": (U32, "required"), "lut": (_list(U32), "required"),
    "threshold": (U32, "required"), "metrics": (ANY, "required"),
    "training": (ANY, "required"), "target": (TARGET, "option"),
}


def _shape(value: Any, shape: Any, path: str) -> None:
    """Raise `schema_fields` where `value` does not have `shape` (a Shape dict, a one-item
    list of a shape, or a check function)."""
    if isinstance(shape, dict):
        if not isinstance(value, dict):
            raise ModelContractError("schema_fields", path, "must be an object")
        for key in value:
            if key not in shape:
                raise ModelContractError("schema_fields", f"{path}.{key}".lstrip("."),
                                         "unknown field")
        for key, (inner, presence) in shape.items():
            at = f"{path}.{key}".lstrip(".")
            if key not in value:
                if presence == "required":
                    raise ModelContractError("schema_fields", at, "missing field")
            elif value[key] is None and presence == "option":
                continue
            else:
                _shape(value[key], inner, at)
    elif isinstance(shape, list):
        if not isinstance(value, list):
            raise ModelContractError("schema_fields", path, "must be an array")
        for i, item in enumerate(value):
            _shape(item, shape[0], f"{path}[{i}]")
    elif not shape(value):
        raise ModelContractError("schema_fields", path, "wrong type or out of range")


# --- the loader's checks, in Model::from_document's order ----------------------------------

def _header(doc: dict) -> None:
    mid = doc["model_id"]
    if not (0 < len(mid.encode()) <= 64 and all(c in MODEL_ID_CHARACTERS for c in mid)):
        raise ModelContractError("model_id", "model_id", "must be 1-64 characters of "
                                 "[A-Za-z0-9._-]")
    if doc["version"] == 0:
        raise ModelContractError("version", "version", "must be at least 1")
    if doc["quantization"]["weight_scale"] != WEIGHT_SCALE:
        raise ModelContractError("weight_scale", "quantization.weight_scale",
                                 f"must be {WEIGHT_SCALE}")
    if doc["quantization"]["digit_bits"] != DIGIT_BITS:
        raise ModelContractError("digit_bits", "quantization.digit_bits", f"must be {DIGIT_BITS}")
    if doc["linear"]["mode"] != "per_digit_rounded":
        raise ModelContractError("linear_mode", "linear.mode",
                                 "only `per_digit_rounded` is supported")
    if doc["probability_scale"] != PROBABILITY_SCALE:
        raise ModelContractError("probability_scale", "probability_scale",
                                 f"must be {PROBABILITY_SCALE}")


def _ordinal(f: dict, at: Callable[[str], str]) -> None:
    lo, hi = f["plausible_min"], f["plausible_max"]
    if (not float(lo).is_integer() or not float(hi).is_integer() or f["clamp_min"] != lo
            or f["clamp_max"] != hi):
        raise ModelContractError("ordinal_feature", at("clamp_min"),
                                 "an ordinal feature has whole-number bounds and clamp = "
                                 "plausible range")
    most = 1 << MAX_CODE_BITS
    if hi - lo >= most:
        raise ModelContractError("ordinal_feature", at("answers"),
                                 f"an ordinal feature has at most {most} answers")
    answers = int(hi - lo) + 1
    labels = f.get("answers", [])
    if len(labels) != answers or any(not a.strip() for a in labels):
        raise ModelContractError("ordinal_feature", at("answers"),
                                 f"must label each of the {answers} answers")
    bits = f["bits"]
    if bits == 0 or bits > MAX_CODE_BITS or (1 << bits) - 1 != answers - 1:
        raise ModelContractError("ordinal_feature", at("bits"),
                                 "an ordinal feature needs 2^bits - 1 = answers - 1 (one code "
                                 "step per answer)")


def _features(doc: dict) -> None:
    features, weights = doc["features"], doc["weights"]
    n = len(features)
    if n == 0 or n > MAX_FEATURES:
        raise ModelContractError("max_features", "features",
                                 f"must list 1 to {MAX_FEATURES} features, found {n}")
    if len(weights) != n:
        raise ModelContractError("weight_count", "weights",
                                 f"has {len(weights)} entries for {n} features")
    for i, f in enumerate(features):
        def at(field: str, i: int = i) -> str:
            return f"features[{i}].{field}"
        if not f["name"] or any(g["name"] == f["name"] for g in features[:i]):
            raise ModelContractError("feature_names", at("name"), "must be non-empty and unique")
        pmin, pmax, cmin, cmax = (f["plausible_min"], f["plausible_max"], f["clamp_min"],
                                  f["clamp_max"])
        if not all(math.isfinite(v) for v in (pmin, pmax, cmin, cmax)):
            raise ModelContractError("feature_ranges", at("plausible_min"),
                                     "ranges must be finite numbers")
        if not pmin <= cmin < cmax <= pmax:
            raise ModelContractError("feature_ranges", at("clamp_min"),
                                     "need plausible_min <= clamp_min < clamp_max <= "
                                     "plausible_max")
        if f["kind"] == "binary":
            if f["bits"] != 1 or cmin != 0.0 or cmax != 1.0:
                raise ModelContractError("binary_feature", at("bits"),
                                         "a binary feature has bits 1 and clamp [0, 1]")
        elif f["kind"] == "continuous":
            if f["bits"] == 0 or f["bits"] > MAX_CODE_BITS:
                raise ModelContractError("code_bits", at("bits"),
                                         f"must be 1 to {MAX_CODE_BITS}")
        else:
            _ordinal(f, at)
        if f["kind"] != "ordinal" and f.get("answers"):
            raise ModelContractError("ordinal_feature", at("answers"),
                                     "only an ordinal feature has answers")
        gate = f.get("counts_from")
        if gate is not None:
            source = next((s for s in features if s["name"] == gate["feature"]), None)
            valid = (source is not None and source["name"] != f["name"]
                     and source["kind"] == "continuous" and source.get("counts_from") is None)
            if not valid or not math.isfinite(gate["at_least"]):
                raise ModelContractError("counts_from", at("counts_from"),
                                         "must name another, ungated continuous feature and a "
                                         "finite threshold")
        if abs(weights[i]) > MAX_ABS_WEIGHT:
            raise ModelContractError("weight_bits", f"weights[{i}]",
                                     f"|w| must be <= {MAX_ABS_WEIGHT}")
    if abs(doc["bias"]) > MAX_ABS_BIAS:
        raise ModelContractError("bias_bits", "bias", f"|bias| must be <= {MAX_ABS_BIAS}")


def _tables(doc: dict) -> list[list[int]]:
    shift = doc["linear"]["grain_shift"]
    if shift > MAX_GRAIN_SHIFT:
        raise ModelContractError("grain_shift", "linear.grain_shift",
                                 f"must be at most {MAX_GRAIN_SHIFT}")
    return [[contribution(w, d, j, shift) for d in range(max_digit(f["bits"], j) + 1)]
            for w, f in zip(doc["weights"], doc["features"], strict=True)
            for j in range(digit_count(f["bits"]))]


def _linear(doc: dict, tables: list[list[int]]) -> None:
    linear, index = doc["linear"], doc["index"]
    bias = rounded_shift(doc["bias"], linear["grain_shift"])
    lo = bias + sum(min(t) for t in tables)
    hi = bias + sum(max(t) for t in tables)
    if (lo, hi) != (linear["logit_min"], linear["logit_max"]):
        raise ModelContractError("logit_bounds", "linear.logit_min",
                                 f"declared bounds [{linear['logit_min']}, {linear['logit_max']}]"
                                 f" differ from the computed [{lo}, {hi}]")
    bits, shift, acc = index["bits"], index["shift"], linear["accumulator_bits"]
    if bits == 0 or bits > MAX_INDEX_BITS:
        raise ModelContractError("index_bits", "index.bits", f"must be 1 to {MAX_INDEX_BITS}")
    if shift % 2:
        raise ModelContractError("whole_digits", "index.shift",
                                 "must be an even number (whole 2-bit digits)")
    if shift > MAX_INDEX_SHIFT:
        raise ModelContractError("index_shift", "index.shift",
                                 f"must be at most {MAX_INDEX_SHIFT}")
    if acc != bits + shift:
        raise ModelContractError("index_top_digits", "linear.accumulator_bits",
                                 "must equal index.bits + index.shift")
    if lo + index["offset"] < 0:
        raise ModelContractError("accumulator_constant", "index.offset",
                                 "logit_min + offset is negative: the accumulator could "
                                 "underflow")
    if hi + index["offset"] >= 1 << acc:
        raise ModelContractError("accumulator_overflow", "linear.accumulator_bits",
                                 f"logit_max + offset does not fit in {acc} bits: the "
                                 "accumulator could overflow")


def _lut(doc: dict) -> None:
    lut, scale = doc["lut"], doc["probability_scale"]
    expected = 1 << doc["index"]["bits"]
    if len(lut) != expected:
        raise ModelContractError("table_length", "lut",
                                 f"has {len(lut)} entries, index.bits requires {expected}")
    for i, p in enumerate(lut):
        if p > scale:
            raise ModelContractError("probability_codes", f"lut[{i}]",
                                     "exceeds probability_scale")
    for i in range(1, len(lut)):
        if lut[i] < lut[i - 1]:
            raise ModelContractError("monotone_table", f"lut[{i}]",
                                     "table must be monotone non-decreasing")
    if doc["threshold"] > scale:
        raise ModelContractError("threshold", "threshold", "exceeds probability_scale")


def _target(doc: dict) -> None:
    target = doc.get("target")
    if target is None:
        return
    p = target["population"]
    if not (math.isfinite(p["age_min"]) and math.isfinite(p["age_max"])
            and p["age_min"] <= p["age_max"]):
        raise ModelContractError("population_ages", "target.population",
                                 "age_min and age_max must be finite with age_min <= age_max")
    if not any(f["name"] == AGE_FEATURE for f in doc["features"]):
        raise ModelContractError("population_age_feature", "target.population",
                                 f"an age range needs a feature named `{AGE_FEATURE}`")


def _circuit(doc: dict) -> None:
    """`Model::check_circuit_limits`: what the encrypted circuit adds to the loader."""
    acc, index = doc["linear"]["accumulator_bits"], doc["index"]
    if acc % 2 or index["shift"] % 2:
        raise ModelContractError("whole_digits", "linear.accumulator_bits",
                                 "the accumulator and the index shift must be whole 2-bit "
                                 "digits")
    if index["bits"] not in CIRCUIT_INDEX_BITS:
        raise ModelContractError("index_bits", "index.bits",
                                 "the encrypted circuit reads an index of 4, 6 or 8 bits")
    levels = len(set(doc["lut"]))
    if levels > MAX_PROBABILITY_LEVELS:
        raise ModelContractError("probability_levels", "lut",
                                 f"has {levels} probability levels; at most "
                                 f"{MAX_PROBABILITY_LEVELS} fit one block")


def check_model(doc: Any) -> None:
    """Raise ModelContractError for the first limit `doc` (a parsed model.json) breaks."""
    version = doc.get("schema_version") if isinstance(doc, dict) else None
    if type(version) is not int or version < 0:
        raise ModelContractError("schema_version", "schema_version", "missing or not an integer")
    if version != SCHEMA_VERSION:
        raise ModelContractError("schema_version", "schema_version",
                                 f"unsupported model schema_version {version} (this build reads "
                                 f"{SCHEMA_VERSION})")
    _shape(doc, DOCUMENT, "")
    _header(doc)
    _features(doc)
    _linear(doc, _tables(doc))
    _lut(doc)
    _target(doc)
    _circuit(doc)
