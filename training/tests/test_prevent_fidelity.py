"""The PREVENT and PCE cohorts of NHANES 2013-2014 and the fidelity of the released integer
pipelines to the exact equations on them (training/prevent_cohort.py,
training/equation_fidelity.py).

Runs on the committed extract only (the raw NHANES files are not needed), in a few seconds."""
from __future__ import annotations

import copy
import math

import pandas as pd
import pytest

from training import equation_fidelity as F
from training import equation_model as M
from training import prevent_cohort as C
from training.equation_export import build_all


@pytest.fixture(scope="module")
def cohort() -> C.Cohort:
    return C.load_cohort()


@pytest.fixture(scope="module")
def models() -> dict:
    return build_all()


@pytest.fixture(scope="module")
def results(cohort, models) -> list[F.Fidelity]:
    return F.run_all(cohort, models)


@pytest.fixture(scope="module")
def pce_cohort() -> C.Cohort:
    return C.load_cohort(equation_path=C.PCE_EQUATION)


@pytest.fixture(scope="module")
def pce_results(pce_cohort, models) -> list[F.Fidelity]:
    return F.run_all(pce_cohort, models, F.PCE_IDS)


# --- the extract -----------------------------------------------------------------------------


def test_committed_extract_matches_its_sha256():
    recorded = C.EXTRACT_SHA256.read_text()
    assert recorded == f"{C.sha256_file(C.EXTRACT)}  {C.EXTRACT.name}\n"


def test_a_changed_extract_is_refused(tmp_path):
    copy_path = tmp_path / C.EXTRACT.name
    data = bytearray(C.EXTRACT.read_bytes())
    data[-2] = ord("7") if data[-2] != ord("7") else ord("8")  # one changed digit, last row
    copy_path.write_bytes(bytes(data))
    (tmp_path / C.EXTRACT_SHA256.name).write_text(C.EXTRACT_SHA256.read_text())
    with pytest.raises(ValueError, match="sha256 differs"):
        C.load_extract(copy_path)


def test_extract_has_only_the_needed_columns_and_sorted_rows():
    raw = pd.read_csv(C.EXTRACT)
    assert list(raw.columns) == C.EXTRACT_COLUMNS
    assert raw["SEQN"].is_unique and raw["SEQN"].is_monotonic_increasing
    assert raw["RIDAGEYR"].between(C.MIN_AGE, C.MAX_AGE).all()


def test_tiny_xpt_zeros_become_zero_and_a_zero_reading_is_missing(tmp_path):
    """read_raw turns 5.4e-79 into 0, and a 0 systolic reading is not averaged in."""
    row = {"SEQN": 1, "RIDAGEYR": 50, "RIAGENDR": 2, "RIDRETH3": 6}
    files = {
        "demographic": row,
        "examination": {"SEQN": 1, "BPXSY1": 5.4e-79, "BPXSY2": 120, "BPXSY3": 130,
                        "BPXSY4": None},
        "labs": {"SEQN": 1, "LBXTC": 200, "LBDHDD": 50, "LBXSCR": 0.7},
        "questionnaire": {"SEQN": 1, **{c: 2 for c in C.CVD_ITEMS}, "DIQ010": 3,
                          "SMQ020": 2, "SMQ040": None, "BPQ020": 2, "BPQ040A": None,
                          "BPQ050A": None, "BPQ080": 2, "BPQ060": 2, "BPQ090D": None,
                          "BPQ100D": None},
    }
    for name, values in files.items():
        pd.DataFrame([values]).to_csv(tmp_path / f"{name}.csv", index=False)
    raw = C.read_raw(tmp_path)
    assert raw.loc[0, "BPXSY1"] == 0.0
    inputs = C.patient_inputs(raw.iloc[0])
    assert inputs["sbp"] == 125.0
    assert (inputs["dm"], inputs["smoking"], inputs["bp_tx"], inputs["statin"]) == (0, 0, 0, 0)
    assert inputs["egfr"] == pytest.approx(105.2976011491, abs=1e-8)
    assert inputs["race"] is None  # the main extract has no race: the sibling holds it
    race = C.read_race(tmp_path, raw["SEQN"])
    assert list(race.columns) == C.RACE_COLUMNS and race.loc[0, "RIDRETH3"] == 6
    assert C.patient_inputs(C.with_race_frame(raw, race).iloc[0])["race"] == "other"


def test_committed_race_extract_matches_its_sha256_and_the_main_extract(tmp_path):
    recorded = C.RACE_EXTRACT.with_suffix(".csv.sha256").read_text()
    assert recorded == f"{C.sha256_file(C.RACE_EXTRACT)}  {C.RACE_EXTRACT.name}\n"
    raw = C.load_extract()
    joined = C.with_race(raw)
    assert joined["RIDRETH3"].notna().all()
    assert set(joined["RIDRETH3"].astype(int)) <= {1, 2, 3, 4, 6, 7}
    # A race extract of other participants is refused.
    C.write_extract(pd.read_csv(C.RACE_EXTRACT).iloc[1:].reset_index(drop=True),
                    tmp_path / "race.csv")
    with pytest.raises(ValueError, match="not the participants"):
        C.with_race(raw, tmp_path / "race.csv")


def test_race_from_ridreth3():
    """4 non-Hispanic Black -> black, 3 non-Hispanic White -> white; 1 Mexican American,
    2 other Hispanic, 6 non-Hispanic Asian, 7 other/multi-racial -> other."""
    assert C.race(4) == "black" and C.race(3) == "white"
    assert [C.race(c) for c in (1, 2, 6, 7)] == ["other"] * 4
    assert C.race(None) is None


# --- definitions -----------------------------------------------------------------------------


@pytest.mark.parametrize("scr, age, female, expected", [
    # Hand-computed from 142 x min(Scr/k,1)^a x max(Scr/k,1)^-1.2 x 0.9938^age x 1.012 [F]
    # (bc -l, 20 digits).
    (0.7, 50, True, 105.29760114914392),   # Scr = k: 142 x 0.9938^50 x 1.012
    (1.2, 60, False, 69.23112756748158),   # 142 x (1.2/0.9)^-1.2 x 0.9938^60
    (0.6, 40, False, 125.14906260691659),  # 142 x (0.6/0.9)^-0.302 x 0.9938^40
    (0.5, 70, True, 100.83590075564284),   # 142 x (0.5/0.7)^-0.241 x 0.9938^70 x 1.012
    (2.1, 45, True, 29.065514143622636),   # 142 x (2.1/0.7)^-1.2 x 0.9938^45 x 1.012
])
def test_ckd_epi_2021_against_hand_computed_values(scr, age, female, expected):
    assert C.ckd_epi_2021(scr, age, female) == pytest.approx(expected, rel=1e-12)


def test_skip_chains():
    yes, no = C.YES, C.NO
    assert C.gated(None, [no]) == 0          # not asked because the earlier answer was no
    assert C.gated(None, [9]) is None        # earlier answer unknown: later one unknown
    assert C.gated(None, [yes]) is None      # should have been asked
    assert C.gated(9, [yes]) is None
    assert C.gated(1, [yes]) == 1 and C.gated(2, [yes]) == 0
    assert C.gated(None, [no, 9]) is None    # one gate unknown
    assert C.gated(None, [no, no]) == 0


def test_cvd_status():
    row = pd.Series({c: 2 for c in C.CVD_ITEMS})
    assert C.cvd_status(row) is None
    assert C.cvd_status(row.replace({2: 1})) == C.KNOWN_CVD
    unknown = row.copy()
    unknown["MCQ160B"] = 9
    assert C.cvd_status(unknown) == C.CVD_UNKNOWN
    unknown["MCQ160F"] = 1
    assert C.cvd_status(unknown) == C.KNOWN_CVD


# --- the cohort ------------------------------------------------------------------------------


def test_cohort_counts_add_up(cohort):
    assert cohort.total == len(pd.read_csv(C.EXTRACT))
    assert len(cohort.patients) + sum(cohort.excluded.values()) == cohort.total
    assert cohort.excluded[C.KNOWN_CVD] > 0 and len(cohort.patients) > 2000
    # Each participant excluded for a missing input misses at least that input.
    for name, k in cohort.missing_any.items():
        assert k >= cohort.excluded[f"missing {name}"]
    # Out-of-range participants are counted once overall and at least once per input.
    assert sum(cohort.out_of_range.values()) >= cohort.excluded[C.OUT_OF_RANGE] > 0


def test_every_cohort_patient_is_complete_and_in_range(cohort):
    ranges = C.input_ranges()
    for p in cohort.patients:
        assert all(v is not None for v in p.values())
        assert all(lo <= p[n] <= hi for n, (lo, hi) in ranges.items())
        assert p["sex"] in ("female", "male")
        assert all(p[b] in (0, 1) for b in ("bp_tx", "statin", "dm", "smoking"))


# --- fidelity --------------------------------------------------------------------------------


def test_exact_category_bands(models):
    model = models["prevent-cvd-10y"]
    assert F.exact_category(model, 0.0499999) == "low"
    assert F.exact_category(model, 0.05) == "borderline"
    assert F.exact_category(model, 0.075) == "intermediate"
    assert F.exact_category(model, 0.1999999) == "intermediate"
    assert F.exact_category(model, 0.2) == "high"


def test_fidelity_targets_hold_on_the_cohort(results):
    assert [f.model_id for f in results] == ["prevent-cvd-10y", "prevent-ascvd-10y"]
    for f in results:
        assert f.n > 2000
        assert f.same_category >= F.SAME_CATEGORY_TARGET, f.model_id
        assert f.within >= F.WITHIN_TARGET, f.model_id


def broken(model: dict, group: int, term: str, factor: float) -> dict:
    """`model` with one integer weight multiplied by `factor`, its accumulator bounds, index
    and output table re-derived so the broken model is self-consistent (as a release made
    with a wrong weight would be)."""
    bad = copy.deepcopy(model)
    k = [t["term"] for t in bad["encoding"]["terms"]].index(term)
    bad["linear"]["weights"][group][k] = int(bad["linear"]["weights"][group][k] * factor)
    acc_min, acc_max = M.acc_bounds(bad)
    offset = -acc_min
    weight_bits = bad["linear"]["weight_bits"]
    shift = weight_bits + M.INDEX_SHIFT
    index_max = (acc_max + offset) >> shift
    bad["linear"].update(acc_min=acc_min, acc_max=acc_max)
    bad["index"] = {"offset": offset, "shift": shift, "max": index_max}
    bad["output"]["table"] = M.output_table(bad["equation"], offset, index_max, weight_bits)
    return bad


@pytest.mark.parametrize("model_id", ["prevent-cvd-10y", "prevent-ascvd-10y"])
def test_a_wrong_sign_on_one_weight_breaks_the_same_category_share(cohort, models, model_id):
    """The measurement can fail: the age weight of the female group with its sign flipped."""
    bad = broken(models[model_id], group=0, term="age", factor=-1)
    f = F.measure(bad, cohort.patients)
    assert f.same_category < F.SAME_CATEGORY_TARGET
    assert not f.meets_targets()


@pytest.mark.parametrize("where", ["below", "far below", "above"])
def test_an_index_outside_the_table_is_refused(cohort, models, where):
    """Below the table Python would silently read from its end (index -1); far below or above,
    run() itself fails; both are refused with the same message."""
    model = models["prevent-cvd-10y"]
    patient = cohort.patients[0]
    idx = M.run(model, patient)["index"]
    g = 0 if patient["sex"] == "female" else 1
    shift = {"below": -(idx + 1), "far below": -10 ** 6,
             "above": model["index"]["max"] + 1 - idx}[where]
    bad = copy.deepcopy(model)
    # bias is in units of 2^-G, acc of 2^-(G+P): this moves the index by exactly `shift`
    bad["linear"]["bias"][g] += shift << M.INDEX_SHIFT
    with pytest.raises(ValueError, match="index outside the output table"):
        F.measure(bad, [patient])


def test_committed_report_is_regenerated_byte_for_byte(cohort, results):
    """training/reports/prevent-fidelity.md is what the committed extract and models give."""
    assert F.REPORT.read_text() == F.report(cohort, results)


def test_report_has_no_patient_level_data(cohort, results):
    text = F.report(cohort, results)
    assert "SEQN" not in text
    seqns = pd.read_csv(C.EXTRACT)["SEQN"].astype(str)
    assert not any(s in text for s in seqns)
    assert not math.isnan(sum(f.same_category for f in results))


# --- PCE -------------------------------------------------------------------------------------


def test_pce_cohort_is_40_to_79_with_the_pce_inputs_only(pce_cohort, cohort):
    assert pce_cohort.ages == (40, 79) and cohort.ages == (30, 79)
    raw = pd.read_csv(C.EXTRACT)
    assert pce_cohort.total == int(raw["RIDAGEYR"].between(40, 79).sum())
    assert len(pce_cohort.patients) + sum(pce_cohort.excluded.values()) == pce_cohort.total
    names = C.input_names(C.PCE_EQUATION)
    ranges = C.input_ranges(C.PCE_EQUATION)
    assert len(pce_cohort.patients) > 2000
    for p in pce_cohort.patients:
        assert list(p) == names
        assert all(lo <= p[n] <= hi for n, (lo, hi) in ranges.items())
        assert p["race"] in ("black", "white", "other")
    races = {r: sum(p["race"] == r for p in pce_cohort.patients)
             for r in ("black", "white", "other")}
    assert min(races.values()) > 200, races
    # The PCE reads neither eGFR nor statin: nobody is excluded for missing them.
    assert "missing egfr" not in pce_cohort.excluded and "missing statin" not in pce_cohort.excluded


def test_pce_fidelity_targets_hold_on_the_cohort(pce_results, models):
    (f,) = pce_results
    assert f.model_id == "pce-ascvd-10y" and f.n > 2000
    assert f.same_category >= F.SAME_CATEGORY_TARGET
    assert f.within >= F.WITHIN_TARGET


def test_a_wrong_sign_on_one_pce_weight_breaks_the_same_category_share(pce_cohort, models):
    """The PCE measurement can fail too: the white women's ln age x ln HDL weight negated.
    (The model keeps its digits and bounds: only the plain pipeline is measured here.)"""
    model = copy.deepcopy(models["pce-ascvd-10y"])
    del model["linear"]["outputs"], model["linear"]["weight_digit_bits"]
    bad = broken(model, group=0, term="ln_age_x_ln_hdl", factor=-1)
    f = F.measure(bad, pce_cohort.patients)
    assert not f.meets_targets()


def test_committed_pce_report_is_regenerated_byte_for_byte(pce_cohort, pce_results, models):
    """training/reports/pce-fidelity.md is what the committed extract and models give."""
    assert F.PCE_REPORT.read_text() == F.report(pce_cohort, pce_results, models)


def test_pce_report_has_no_patient_level_data(pce_cohort, pce_results, models):
    text = F.report(pce_cohort, pce_results, models)
    seqns = pd.read_csv(C.EXTRACT)["SEQN"].astype(str)
    assert not any(s in text for s in seqns)
    assert "published vectors" in text
