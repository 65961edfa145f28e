"""Edge vectors for golden.json: inputs chosen from the model itself to sit on every edge of
the integer pipeline, so the three engines are held bit-identical exactly where an off-by-one
would hide.

Kinds (the `kind` field of each vector):
- `clamp`: one feature at its plausible or clamp bound, the others at a base patient;
- `rounding_tie`: a value whose quantization is exactly k + 0.5 in binary64 (rounds up);
- `logit_min` / `logit_max`: the inputs giving the smallest and largest logit;
- `table_boundary`: for every index where the calibrated table changes level, an input on
  each side (largest logit of index i-1, smallest of index i), when the logit is reachable
  by a valid input (a gated answer counts only when its source is at its threshold);
- `gate`: each gated feature answered at its maximum with its source just below and exactly
  at the threshold (the answer must not count, then count).

Everything is derived deterministically from model.json, so the exporter writes the same
edges for the same model.
"""
from __future__ import annotations

from training.integer_pipeline import IntegerModel, quantize_value, rounded_shift


def raw_for_code(feature: dict, code: int) -> float:
    """A raw value inside the plausible range whose quantized code is `code`."""
    lo, hi, bits = feature["clamp_min"], feature["clamp_max"], feature["bits"]
    if feature["kind"] == "binary":
        return float(code)
    levels = (1 << bits) - 1
    v = round(lo + code * (hi - lo) / levels, 6)
    for candidate in (v, lo + code * (hi - lo) / levels):
        if quantize_value(candidate, lo, hi, bits) == code:
            return float(candidate)
    raise ValueError(f"no raw value found for code {code} of {feature['name']}")


def base_patient(doc: dict) -> list[float]:
    """Binary answers 0, continuous values at the middle code."""
    return [raw_for_code(f, 0 if f["kind"] == "binary" else (1 << f["bits"]) // 2)
            for f in doc["features"]]


def _vector(model: IntegerModel, kind: str, raw: list[float]) -> dict:
    return {"kind": kind, "raw": [float(v) for v in raw], **model.run(list(raw))}


def _ties(feature: dict, per_feature: int = 2) -> list[float]:
    """Values whose quantization lands exactly on k + 0.5 in binary64 (measurements only:
    yes/no and ordinal answers are whole numbers)."""
    if feature["kind"] != "continuous":
        return []
    lo, hi, bits = feature["clamp_min"], feature["clamp_max"], feature["bits"]
    levels = (1 << bits) - 1
    found = []
    for k in range(levels):
        v = lo + (k + 0.5) * (hi - lo) / levels
        if (v - lo) * levels / (hi - lo) == k + 0.5 and feature["plausible_min"] <= v:
            found.append(v)
            if len(found) == per_feature:
                break
    return found


def _codes_for_logits(doc: dict, model: IntegerModel) -> dict[int, list[int]]:
    """One code vector per logit reachable by a valid input (dynamic programming over the
    features; the state remembers which gate sources stand at or above their threshold)."""
    features = doc["features"]
    names = [f["name"] for f in features]
    gates = {i: (names.index(f["counts_from"]["feature"]), f["counts_from"]["at_least"])
             for i, f in enumerate(features) if "counts_from" in f}
    sources = {src for src, _ in gates.values()}
    reach: dict[tuple[int, frozenset], list[int]] = {
        (rounded_shift(model.bias, model.grain_shift), frozenset()): []}
    for i, f in enumerate(features):
        nxt: dict[tuple[int, frozenset], list[int]] = {}
        for (total, open_sources), codes in reach.items():
            for code in range(1 << f["bits"]):
                if i in gates and code != 0:
                    src, _ = gates[i]
                    if src > i or src not in open_sources:
                        continue  # not reachable: the answer would not count
                opened = open_sources
                if i in sources and any(raw_for_code(f, code) >= at for s, at in gates.values()
                                        if s == i):
                    opened = open_sources | {i}
                key = (total + model.logit_part(i, code), opened)
                if key not in nxt:
                    nxt[key] = codes + [code]
        reach = nxt
    merged: dict[int, list[int]] = {}
    for (total, _), codes in sorted(reach.items(), key=lambda kv: (kv[0][0], sorted(kv[0][1]))):
        merged.setdefault(total, codes)
    return merged


def _gate_vectors(doc: dict, model: IntegerModel, base: list[float]) -> list[dict]:
    names = [f["name"] for f in doc["features"]]
    out = []
    for i, f in enumerate(doc["features"]):
        if "counts_from" not in f:
            continue
        src, at = names.index(f["counts_from"]["feature"]), f["counts_from"]["at_least"]
        for source_value in (at - 0.01, at):
            raw = list(base)
            raw[i] = f["clamp_max"]
            raw[src] = source_value
            out.append(_vector(model, "gate", raw))
    return out


def edge_vectors(doc: dict) -> list[dict]:
    """Every edge vector of `doc` (see the module docstring), in a fixed order."""
    model = IntegerModel.from_doc(doc)
    features = doc["features"]
    base = base_patient(doc)
    out = []
    for i, f in enumerate(features):
        bounds = [f["plausible_min"], f["clamp_min"], f["clamp_max"], f["plausible_max"]]
        for value in dict.fromkeys(float(b) for b in bounds):
            raw = list(base)
            raw[i] = value
            out.append(_vector(model, "clamp", raw))
        for value in _ties(f):
            raw = list(base)
            raw[i] = value
            out.append(_vector(model, "rounding_tie", raw))
    out.extend(_gate_vectors(doc, model, base))
    reach = _codes_for_logits(doc, model)
    to_raw = lambda codes: [raw_for_code(f, c) for f, c in zip(features, codes)]  # noqa: E731
    out.append(_vector(model, "logit_min", to_raw(reach[min(reach)])))
    out.append(_vector(model, "logit_max", to_raw(reach[max(reach)])))
    by_index: dict[int, list[int]] = {}
    for logit in sorted(reach):
        by_index.setdefault(model.index(logit), []).append(logit)
    lut = doc["lut"]
    for i in range(1, len(lut)):
        if lut[i] != lut[i - 1] and i in by_index and i - 1 in by_index:
            out.append(_vector(model, "table_boundary", to_raw(reach[max(by_index[i - 1])])))
            out.append(_vector(model, "table_boundary", to_raw(reach[min(by_index[i])])))
    return out
