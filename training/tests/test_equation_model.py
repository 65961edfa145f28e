"""Schema-2 releases: the committed PREVENT and PCE models and golden vectors are exactly what
`training/equation_export.py` makes (a hand edit cannot go unnoticed), the proven term ranges
hold every valid patient's terms, the integer pipeline stays within 0.2 percentage point of
the published vectors, and the weight digits (several encrypted outputs) recombine to the
accumulator with every output inside the encryption limits."""
from __future__ import annotations

import json
import random

import pytest

from training import equation_eval as E
from training import equation_export as X
from training import equation_model as M
from training.equation_bounds import term_intervals


def test_committed_releases_are_regenerated_byte_for_byte(tmp_path, monkeypatch):
    monkeypatch.setattr("sys.argv", ["equation_export", "--out", str(tmp_path)])
    X.main()
    for model_id in X.RELEASES:
        for name in ("model.json", "golden.json"):
            made = (X.folder(tmp_path, model_id) / name).read_bytes()
            committed = (X.folder(X.ROOT / "models", model_id) / name).read_bytes()
            assert made == committed, f"{model_id}/{name}"
    assert X.folder(X.ROOT / "models", "pce-ascvd-10y").name == "v1"
    assert X.folder(X.ROOT / "models", "prevent-cvd-10y").name == "v2"


@pytest.mark.parametrize("model_id", sorted(X.RELEASES))
def test_proven_ranges_hold_every_sampled_patient(model_id):
    equation = json.loads((X.EQUATIONS / f"{model_id}.json").read_text())
    ranges = term_intervals(equation)
    rng = random.Random(11)
    for k in range(2000):
        patient = X.random_patient(equation, rng, corner=k % 3 == 0)
        for value, (lo, hi) in zip(E.term_values(equation, patient), ranges, strict=True):
            assert lo - 1e-12 <= value <= hi + 1e-12


@pytest.mark.parametrize("model_id", sorted(X.RELEASES))
def test_published_vectors_are_within_a_fifth_of_a_point(model_id):
    model = X.build_all()[model_id]
    names = {spec["name"] for spec in model["equation"]["inputs"]}
    seen = 0
    for _, given, published in X.published_patients(model_id):
        patient = {k: v for k, v in given.items() if k in names}
        p = M.run(model, patient)["probability"] / M.PROBABILITY_SCALE
        # published values are rounded to 3 decimals
        assert abs(p - published) <= 0.002 + 0.0005
        assert abs(p - E.probability(model["equation"], patient)) <= 0.002
        seen += 1
    assert seen >= 4


def test_a_shifted_weight_moves_the_result():
    """The checks above can fail: one weight off by a little moves many golden results."""
    model = X.build_all()["prevent-cvd-10y"]
    golden = X.golden(model)["vectors"]
    broken = json.loads(json.dumps(model))
    broken["linear"]["weights"][0][0] += 2
    moved = 0
    for v in golden:
        if v["group"] != 0:
            continue
        try:
            moved += M.run(broken, v["input"])["acc"] != v["acc"]
        except ValueError:  # pushed outside the table: refused, never read from its far end
            moved += 1
    assert moved > 50


@pytest.mark.parametrize("model_id", sorted(X.RELEASES))
def test_slots_dot_product_is_the_accumulator(model_id):
    """sum(slot weight x slot value) == B_g * 2^P + sum W q on 1000 random valid patients (and
    the group slot weight B_g * 2^(P - 10) times 2^10 is B_g * 2^P)."""
    model = X.build_all()[model_id]
    equation = model["equation"]
    weights = M.slot_weights(model)
    terms = len(model["encoding"]["terms"])
    assert len(weights) == len(equation["groups"]) * (terms + 1)
    rng = random.Random(5)
    for k in range(1000):
        patient = X.random_patient(equation, rng, corner=k % 5 == 0)
        out = M.run(model, patient)
        values = M.slot_values(model, out["group"], out["codes"])
        assert len(values) == len(weights)
        assert sum(w * v for w, v in zip(weights, values, strict=True)) == out["acc"]
        assert model["linear"]["acc_min"] <= out["acc"] <= model["linear"]["acc_max"]


@pytest.mark.parametrize("model_id", sorted(X.RELEASES))
def test_releases_are_within_the_encryption_limits(model_id):
    model = X.build_all()[model_id]
    linear = model["linear"]
    assert M.limit_errors(model) == []
    for weights, (lo, hi) in zip(M.output_weights(model), M.output_bounds(model), strict=True):
        assert hi - lo < 1 << M.PLAINTEXT_BITS
        assert sum(abs(w) for w in weights) <= M.MAX_SLOT_WEIGHT_MASS
    if M.output_count(model) == 1:
        assert linear["acc_max"] - linear["acc_min"] < 1 << M.PLAINTEXT_BITS
        assert M.slot_weight_mass(model) <= M.MAX_SLOT_WEIGHT_MASS
    assert linear["group_code_bits"] == M.GROUP_CODE_BITS <= linear["weight_bits"]
    assert model["index"]["shift"] == linear["weight_bits"] + M.INDEX_SHIFT
    for t in model["encoding"]["terms"]:
        if t["step"] == 2.0 ** -M.GROUP_CODE_BITS:  # a yes/no term: codes 0 and 2^10
            assert (t["min"], t["max"], t["bits"], M.max_code(t)) == (0.0, 1.0, 11, M.GROUP_CODE)
        else:
            assert M.max_code(t) == (1 << t["bits"]) - 1


def test_a_model_over_an_encryption_limit_is_refused_naming_the_field():
    model = X.build_all()["prevent-cvd-10y"]
    heavy = json.loads(json.dumps(model))
    heavy["linear"]["weights"][0][0] += M.MAX_SLOT_WEIGHT_MASS
    with pytest.raises(ValueError, match=r"^linear\.weights: the slot weight mass"):
        M.check_limits(heavy)
    wide = json.loads(json.dumps(model))
    wide["linear"]["acc_max"] = wide["linear"]["acc_min"] + (1 << M.PLAINTEXT_BITS)
    with pytest.raises(ValueError, match=r"^linear\.acc_max: the accumulator range"):
        M.check_limits(wide)
    wide["linear"]["acc_max"] -= 1  # just below 2^27: accepted
    M.check_limits(wide)


def test_the_exporter_splits_weights_over_the_limits_and_refuses_an_overlong_table():
    """Coefficients 40 times larger: the linear sum's range (and the yes/no and group slot
    weights) grow with them, past both limits of one output; the exporter splits the weights
    into digits (the plain form is refused, naming the field). 4000 times larger: the index
    would need more than 2^18 table entries, refused naming the field."""
    equation = json.loads((X.EQUATIONS / "prevent-cvd-10y.json").read_text())
    eligibility = X.RELEASES["prevent-cvd-10y"]["eligibility"]
    big = json.loads(json.dumps(equation))
    for group in big["groups"]:
        group["coefficients"] = [c * 40 for c in group["coefficients"]]
    model = M.build(big, "big", 1, "", eligibility)
    assert M.output_count(model) > 1 and M.limit_errors(model) == []
    del model["linear"]["outputs"], model["linear"]["weight_digit_bits"]
    with pytest.raises(ValueError, match=r"^linear\.(weights|acc_max)"):
        M.check_limits(model)
    huge = json.loads(json.dumps(equation))
    for group in huge["groups"]:
        group["coefficients"] = [c * 4000 for c in group["coefficients"]]
    with pytest.raises(ValueError, match=r"^index\.max: .* more than 18 index bits"):
        M.build(huge, "huge", 1, "", eligibility)


def test_weight_bits_and_digits_follow_the_limits_only():
    """P = max(12, widest code + 1); D the fewest outputs inside both limits, k the widest digit
    for that D. PREVENT: P = 12, one output, no new fields (its releases are unchanged). PCE:
    17-bit codes -> P = 18; one output is over both limits, two outputs fit for no k."""
    models = X.build_all()
    for model_id in ("prevent-cvd-10y", "prevent-ascvd-10y"):
        linear = models[model_id]["linear"]
        assert linear["weight_bits"] == 12
        assert "outputs" not in linear and "weight_digit_bits" not in linear
    pce = models["pce-ascvd-10y"]
    linear = pce["linear"]
    widest = max(t["bits"] for t in pce["encoding"]["terms"])
    assert widest == 17 and linear["weight_bits"] == widest + 1
    assert (linear["weight_digit_bits"], M.output_count(pce)) == (8, 3)
    assert [(o["acc_min"], o["acc_max"]) for o in linear["outputs"]] == M.output_bounds(pce)
    plain = json.loads(json.dumps(pce))
    del plain["linear"]["outputs"], plain["linear"]["weight_digit_bits"]
    assert [e.split(":")[0] for e in M.limit_errors(plain)] == ["linear.acc_max",
                                                                  "linear.weights"]
    for k in range(1, M.MAX_DIGIT_BITS + 1):
        two = json.loads(json.dumps(plain))
        two["linear"]["weight_digit_bits"] = k
        two["linear"]["outputs"] = [{"acc_min": lo, "acc_max": hi}
                                    for lo, hi in M.output_bounds(two, k, 2)]
        assert M.limit_errors(two), f"two outputs with k = {k}"
    wider = json.loads(json.dumps(pce))
    wider["linear"]["weight_digit_bits"] = 9
    wider["linear"]["outputs"] = [{"acc_min": lo, "acc_max": hi}
                                  for lo, hi in M.output_bounds(wider, 9, 3)]
    assert M.limit_errors(wider), "k = 9 is over a limit: 8 is the widest"


@pytest.mark.parametrize("w", [0, 1, -1, 255, 256, -256, 7_646_208, -7_646_208, 123_456_789,
                               -(1 << 30) + 3])
def test_digits_recombine_exactly(w):
    for k, outputs in ((8, 3), (5, 4), (12, 2), (0, 1)):
        d = M.digits(w, k, outputs)
        assert len(d) == outputs
        assert all(0 <= x < 1 << k for x in d[:-1])
        assert sum(x << (k * j) for j, x in enumerate(d)) == w


def test_pce_outputs_recombine_to_the_accumulator_inside_their_bounds():
    """On 2000 random valid patients (every race and sex): each output A_j lies inside its
    proven bounds, sum 2^(k j) A_j is the accumulator, every slot weight's digits recombine to
    it, and `other` uses the white equations."""
    model = X.build_all()["pce-ascvd-10y"]
    equation = model["equation"]
    k = model["linear"]["weight_digit_bits"]
    rows = M.output_weights(model)
    for j, w in enumerate(M.slot_weights(model)):
        assert sum(row[j] << (k * i) for i, row in enumerate(rows)) == w
    bounds = M.output_bounds(model)
    names = [g["name"] for g in equation["groups"]]
    rng = random.Random(31)
    seen = set()
    for n in range(2000):
        patient = X.random_patient(equation, rng, corner=n % 4 == 0)
        out = M.run(model, patient)
        assert len(out["outputs"]) == 3
        for a, (lo, hi) in zip(out["outputs"], bounds, strict=True):
            assert lo <= a <= hi
        assert M.recombine(model, out["outputs"]) == out["acc"]
        expected = ("black" if patient["race"] == "black" else "white")
        expected = {"black": "aa", "white": "white"}[expected] + "_" + patient["sex"]
        assert names[out["group"]] == expected
        seen.add(out["group"])
    assert seen == {0, 1, 2, 3}


def test_pce_golden_holds_every_published_vector_and_all_four_groups():
    golden = json.loads((X.folder(X.ROOT / "models", "pce-ascvd-10y") / "golden.json").read_text())
    vectors = golden["vectors"]
    published = [v for v in vectors if v["published"] is not None]
    assert len(published) == len(X.published_patients("pce-ascvd-10y")) == 12
    assert len(vectors) == 12 + X.RANDOM_PATIENTS
    assert {v["group"] for v in vectors} == {0, 1, 2, 3}
    assert {v["input"]["race"] for v in vectors} == {"black", "white", "other"}
    for v in published:
        assert abs(v["probability"] / M.PROBABILITY_SCALE - v["exact"]) <= 0.002


def test_a_pce_output_over_a_limit_is_refused_naming_the_field():
    model = X.build_all()["pce-ascvd-10y"]
    wide = json.loads(json.dumps(model))
    out = wide["linear"]["outputs"][1]
    out["acc_max"] = out["acc_min"] + (1 << M.PLAINTEXT_BITS)
    with pytest.raises(ValueError, match=r"^linear\.outputs\[1\]\.acc_max: output 1's range"):
        M.check_limits(wide)
    out["acc_max"] -= 1
    M.check_limits(wide)  # just below 2^27: accepted
    heavy = json.loads(json.dumps(model))
    heavy["linear"]["weight_digit_bits"] = 16  # lower digits up to 2^16 - 1: mass over 2^18
    heavy["linear"]["outputs"] = [{"acc_min": 0, "acc_max": 1}] * 3
    with pytest.raises(ValueError, match=r"^linear\.weight_digit_bits: output 0's weight mass"):
        M.check_limits(heavy)
