"""scripts/fhir_testdata.py: the FHIR test data is deterministic, the Bundle and the Bulk Data
files hold the same resources, every kind of noise is present, and a reader written here from
the mapping table's rules (independently of the generator; the rules of
crates/pulsecure-fhir/src/{extract,record,target,map}.rs) turns the FHIR into exactly the
expected CSV rows and outcomes. The committed example and the Rust end-to-end test's fixture are
what their documented commands write."""
from __future__ import annotations

import datetime as dt
import importlib.util
import json
import os
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "fhir_testdata.py"
TABLE = json.loads((ROOT / "crates" / "pulsecure-fhir" / "mapping" / "r4-map.json").read_text())
AS_OF = dt.date(2026, 6, 30)
N = 300

LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
ATC = "http://www.whocc.no/atc"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
PREVENT_HEADER = ("patient_id,known_cvd,age,sex,sbp,bp_tx,total_c,hdl_c,statin,dm,smoking,egfr,"
                  "serum_creatinine")
CVD_LR_HEADER = ("patient_id,known_cvd,age,told_diabetes,systolic_bp,current_smoker,male,"
                 "told_high_bp")
OBS = {o["column"]: o for o in TABLE["observations"]}
FIXTURE = ROOT / "crates" / "pulsecure-cli" / "tests" / "fixtures" / "fhir"
# PREVENT's required inputs, in the CSV's order, each as the clinic columns any of which fills it
# (equation_screening.rs `columns`: serum_creatinine is the alternative to egfr).
PREVENT_REQUIRED = [["sbp"], ["total_c"], ["hdl_c"], ["egfr", "serum_creatinine"]]

Resource = dict[str, Any]


def run_generator(out: Path | None, *args: str, hash_seed: str = "0") -> None:
    env = dict(os.environ, PYTHONHASHSEED=hash_seed)
    subprocess.run([sys.executable, str(SCRIPT), *args, *(["--out", str(out)] if out else [])],
                   check=True, cwd=ROOT, env=env, capture_output=True)


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("fhir") / "a"
    run_generator(out, "--patients", str(N), "--seed", "7", "--as-of", AS_OF.isoformat())
    return out


def read_csv(path: Path) -> tuple[str, list[list[str]]]:
    lines = path.read_text().splitlines()
    return lines[0], [line.split(",") for line in lines[1:]]


def bundle_resources(out: Path) -> list[Resource]:
    bundle = json.loads((out / "bundle.json").read_text())
    assert bundle["resourceType"] == "Bundle" and bundle["type"] == "collection"
    urls = [e["fullUrl"] for e in bundle["entry"]]
    assert len(set(urls)) == len(urls) and all(u.startswith("urn:uuid:") for u in urls)
    return [e["resource"] for e in bundle["entry"]]


def bulk_resources(out: Path) -> dict[str, list[Resource]]:
    return {p.name: [json.loads(line) for line in p.read_text().splitlines()]
            for p in sorted((out / "bulk").glob("*.ndjson"))}


def owner(resource: Resource) -> str:
    if resource["resourceType"] == "Patient":
        return resource["id"]
    reference = resource["subject"]["reference"]
    assert reference.startswith("Patient/")
    return reference.removeprefix("Patient/")


# ---------------------------------------------------------------------------------------------
# A reader of the FHIR, from the mapping table's rules (independent of the generator's code)


def fmt(value: float | int) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def in_window(stamp: str) -> bool:
    day = dt.date.fromisoformat(stamp[:10])
    years = TABLE["default_lookback_years"]
    try:
        start = AS_OF.replace(year=AS_OF.year - years)
    except ValueError:
        start = AS_OF.replace(year=AS_OF.year - years, day=28)
    return start <= day <= AS_OF


def codes(concept: Resource, system: str) -> list[str]:
    return [c["code"] for c in concept.get("coding", []) if c.get("system") == system]


def quantities(obs: Resource, column: str) -> list[Resource]:
    """The valueQuantity of `column` in one observation (itself or a panel component)."""
    spec = OBS[column]
    found = []
    if set(codes(obs["code"], LOINC)) & set(spec["loinc"]):
        found.append(obs["valueQuantity"])
    if set(codes(obs["code"], LOINC)) & set(spec.get("component_of", [])):
        for component in obs["component"]:
            if set(codes(component["code"], LOINC)) & set(spec["loinc"]):
                found.append(component["valueQuantity"])
    return found


def read_numeric(observations: list[Resource], column: str) -> tuple[str, Any] | None:
    """The reader's choice for one column (record.rs): ("value", v in the CSV's unit) from the
    most recent counting observation in the window, or ("unit", u) when the most recent one
    with an unknown unit is of the same day or newer; None when nothing counts. Dates are the
    date part as written; a tie of the same day goes to the later in the input."""
    valid: tuple[dt.date, float] | None = None
    bad: tuple[dt.date, str | None] | None = None
    for obs in observations:
        counts = obs["status"] in TABLE["observation_statuses"]
        if not counts or not in_window(obs["effectiveDateTime"]):
            continue
        day = dt.date.fromisoformat(obs["effectiveDateTime"][:10])
        for q in quantities(obs, column):
            unit = q.get("code", q.get("unit"))
            factor = OBS[column]["units"].get(unit)
            if factor is None:
                if bad is None or day >= bad[0]:
                    bad = (day, unit)
            elif valid is None or day >= valid[0]:
                valid = (day, q["value"] * factor)
    if valid is not None and (bad is None or bad[0] < valid[0]):
        return "value", valid[1]
    return None if bad is None else ("unit", bad[1])


def read_kidney(observations: list[Resource]) -> dict[str, tuple[str, Any]]:
    """eGFR / creatinine (record.rs): a CKD-EPI 2021 eGFR with a value wins, else a creatinine
    with a value, else a legacy eGFR (as `egfr`: its value, or its unknown unit when no 2021
    eGFR has one)."""
    chosen = {c: r for c in ("egfr", "serum_creatinine", "egfr_legacy")
              if (r := read_numeric(observations, c)) is not None}

    def has_value(column: str) -> bool:
        return chosen.get(column, ("", None))[0] == "value"

    if has_value("egfr"):
        return {"egfr": chosen["egfr"]}
    if has_value("serum_creatinine"):
        return {"serum_creatinine": chosen["serum_creatinine"]}
    legacy = chosen.pop("egfr_legacy", None)
    if legacy is not None and (legacy[0] == "value" or "egfr" not in chosen):
        chosen["egfr"] = legacy
    return chosen


def loinc_name(column: str) -> str:
    """How the reader names a column in an error (target.rs `describe`)."""
    return "/".join(OBS[column]["loinc"])


def read_smoking(observations: list[Resource]) -> int | None:
    spec = TABLE["smoking"]
    found = []
    for obs in observations:
        if (obs["status"] in TABLE["observation_statuses"] and in_window(obs["effectiveDateTime"])
                and spec["loinc"] in codes(obs["code"], LOINC)):
            snomed = codes(obs["valueCodeableConcept"], SNOMED)
            value = 1 if set(snomed) & set(spec["snomed_current"]) else (
                0 if set(snomed) & set(spec["snomed_not_current"]) else None)
            found.append((dt.datetime.fromisoformat(obs["effectiveDateTime"]), value))
    return max(found, key=lambda v: v[0])[1] if found else None


def status(condition: Resource, element: str) -> str | None:
    """The first code of a Condition's clinicalStatus / verificationStatus (None if absent)."""
    return condition.get(element, {}).get("coding", [{}])[0].get("code")


def icd10_below(code: str, listed: str) -> bool:
    """ICD-10-CM: with the dots removed, `code` starts with the listed code (map.rs)."""
    return code.replace(".", "").startswith(listed.replace(".", ""))


def has_condition(conditions: list[Resource], column: str) -> int:
    spec = next(c for c in TABLE["conditions"] if c["column"] == column)
    for cond in conditions:
        if status(cond, "verificationStatus") in TABLE["condition_ignored_verification"]:
            continue
        clinical = status(cond, "clinicalStatus")
        if spec["counts"] == "active" and clinical not in TABLE["condition_active_statuses"]:
            continue
        snomed = set(codes(cond["code"], SNOMED)) & set(spec["snomed"])
        icd = [c for c in codes(cond["code"], ICD10CM)
               if any(icd10_below(c, p) for p in spec["icd10cm"])]
        if snomed or icd:
            return 1
    return 0


def ordered(med: Resource) -> bool:
    """A MedicationStatement, or a MedicationRequest without an intent or with one the table
    lists (an order, not a proposal or a plan)."""
    return (med["resourceType"] == "MedicationStatement" or "intent" not in med
            or med["intent"] in TABLE["medication_request_intents"])


def on_medication(medications: list[Resource], column: str) -> int:
    spec = next(m for m in TABLE["medications"] if m["column"] == column)
    for med in medications:
        if med["status"] not in TABLE["medication_statuses"] or not ordered(med):
            continue
        concept = med["medicationCodeableConcept"]
        if (any(c.startswith(tuple(spec["atc_prefixes"])) for c in codes(concept, ATC))
                or set(codes(concept, RXNORM)) & set(spec["rxnorm_ingredients"])):
            return 1
    return 0


def read_patient(resources: list[Resource]) -> tuple[str, str, dict[str, str]]:
    """(outcome, detail, CSV cells by column) of one patient's resources."""
    by_type: dict[str, list[Resource]] = {}
    for r in resources:
        by_type.setdefault(r["resourceType"], []).append(r)
    (patient,) = by_type["Patient"]
    if patient["gender"] not in ("male", "female"):
        return "not_eligible_sex", f"gender:{patient['gender']}", {}
    observations = by_type.get("Observation", [])
    chosen = {c: found for c in ("sbp", "total_c", "hdl_c")
              if (found := read_numeric(observations, c)) is not None}
    chosen.update(read_kidney(observations))
    values: dict[str, float | int | None] = {
        c: r[1] if r[0] == "value" else None for c, r in chosen.items()}
    values.setdefault("egfr", None)
    values.setdefault("serum_creatinine", None)
    # target.rs: an input none of whose columns has a value is blocked by the first column's
    # unknown unit, else missing; the first unknown unit is the error, else every missing one.
    units, missing = [], []
    for any_of in PREVENT_REQUIRED:
        if any(values.get(c) is not None for c in any_of):
            continue
        unit = next(((c, chosen[c][1]) for c in any_of if c in chosen), None)
        if unit:
            units.append(f"unknown_unit:{loinc_name(unit[0])}:{unit[1]}")
        else:
            missing.append("|".join(loinc_name(c) for c in any_of))
    if units:
        return "error", units[0], {}
    if missing:
        return "error", "missing:" + ", ".join(missing), {}
    born = dt.date.fromisoformat(patient["birthDate"])
    conditions = by_type.get("Condition", [])
    medications = by_type.get("MedicationRequest", []) + by_type.get("MedicationStatement", [])
    smoking = read_smoking(observations)
    assert smoking is not None
    values.update(
        age=AS_OF.year - born.year - ((AS_OF.month, AS_OF.day) < (born.month, born.day)),
        known_cvd=has_condition(conditions, "known_cvd"), dm=has_condition(conditions, "dm"),
        bp_tx=on_medication(medications, "bp_tx"), statin=on_medication(medications, "statin"),
        smoking=smoking, male=int(patient["gender"] == "male"))
    values["told_high_bp"] = int(has_condition(conditions, "hypertension") == 1
                                 or values["bp_tx"] == 1)
    cells = {k: "" if v is None else fmt(v) for k, v in values.items()}
    cells["sex"] = patient["gender"]
    cells.update(told_diabetes=cells["dm"], systolic_bp=cells["sbp"],
                 current_smoker=cells["smoking"])
    return "row", "", cells


def read_all(resources: list[Resource]) -> dict[str, tuple[str, str, dict[str, str]]]:
    by_patient: dict[str, list[Resource]] = {}
    for r in resources:
        by_patient.setdefault(owner(r), []).append(r)
    return {pid: read_patient(rs) for pid, rs in by_patient.items()}


# ---------------------------------------------------------------------------------------------
# Tests


def test_two_runs_write_the_same_bytes(data, tmp_path):
    again = tmp_path / "b"
    run_generator(again, "--patients", str(N), "--seed", "7", "--as-of", AS_OF.isoformat(),
                  hash_seed="12345")
    files = sorted(p.relative_to(data) for p in data.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(again) for p in again.rglob("*") if p.is_file())
    assert len(files) == 10
    for name in files:
        assert (data / name).read_bytes() == (again / name).read_bytes(), name


def test_csv_headers_and_one_outcome_per_patient(data):
    header, outcomes = read_csv(data / "expected-outcomes.csv")
    assert header == "patient_id,expected,detail"
    assert len(outcomes) == N and len({o[0] for o in outcomes}) == N
    rows = [o[0] for o in outcomes if o[1] == "row"]
    prevent_header, prevent = read_csv(data / "expected-prevent.csv")
    cvd_header, cvd = read_csv(data / "expected-cvd-lr.csv")
    assert prevent_header == PREVENT_HEADER and cvd_header == CVD_LR_HEADER
    assert [r[0] for r in prevent] == rows == [r[0] for r in cvd]
    for row in prevent:  # exactly one of egfr / serum_creatinine
        assert (row[11] == "") != (row[12] == "")
    counts = Counter(o[1] for o in outcomes)
    assert set(counts) == {"row", "error", "not_eligible_sex"}
    assert counts["row"] > 0.9 * N
    details = Counter(o[2] for o in outcomes if o[1] == "error")
    assert set(details) == {"missing:2085-9", "missing:98979-8|2160-0", "unknown_unit:2093-3:mg%"}


def test_every_patient_is_in_the_bundle_and_the_bulk_files(data):
    _, outcomes = read_csv(data / "expected-outcomes.csv")
    bundle_patients = {r["id"] for r in bundle_resources(data) if r["resourceType"] == "Patient"}
    bulk_patients = {r["id"] for r in bulk_resources(data)["Patient.ndjson"]}
    ids = {o[0] for o in outcomes}
    assert ids == bundle_patients == bulk_patients
    assert all(o[0].startswith("nh-") for o in outcomes)


def test_bulk_and_bundle_hold_the_same_resources_shuffled(data):
    bulk = bulk_resources(data)
    assert sorted(bulk) == ["Condition.ndjson", "MedicationRequest.ndjson",
                            "MedicationStatement.ndjson", "Observation.1.ndjson",
                            "Observation.2.ndjson", "Patient.ndjson"]
    for name, resources in bulk.items():
        assert resources and all(r["resourceType"] == name.split(".")[0] for r in resources)
        text = (data / "bulk" / name).read_text()
        assert text.endswith("\n") and "\n " not in text  # compact, one resource per line

    def canon(resources):
        return Counter(json.dumps(r, sort_keys=True) for r in resources)

    assert canon(bundle_resources(data)) == canon(r for rs in bulk.values() for r in rs)
    ids = [(r["resourceType"], r["id"]) for r in bundle_resources(data)]
    assert len(set(ids)) == len(ids)
    # a reader must join: one patient's observations are not contiguous in the bulk files
    observations = bulk["Observation.1.ndjson"] + bulk["Observation.2.ndjson"]
    runs = 1 + sum(owner(a) != owner(b)
                   for a, b in zip(observations, observations[1:], strict=False))
    assert runs > 0.8 * len(observations)
    first, second = bulk["Observation.1.ndjson"], bulk["Observation.2.ndjson"]
    assert {owner(r) for r in first} & {owner(r) for r in second}


def test_every_kind_of_noise_is_present(data):
    resources = bundle_resources(data)
    _, outcomes = read_csv(data / "expected-outcomes.csv")
    observations = [r for r in resources if r["resourceType"] == "Observation"]
    qs = [(o, q) for o in observations
          for q in ([o["valueQuantity"]] if "valueQuantity" in o
                    else [c["valueQuantity"] for c in o.get("component", [])])]

    def obs_with(column: str, unit_factor: float) -> int:
        return sum(1 for o, q in qs if set(codes(o["code"], LOINC)) & set(OBS[column]["loinc"])
                   and OBS[column]["units"].get(q.get("code", q.get("unit"))) == unit_factor)

    def unit_keys(column: str) -> Counter[str]:
        return Counter(q.get("code", q.get("unit")) for o, q in qs
                       if set(codes(o["code"], LOINC)) & set(OBS[column]["loinc"]))

    scr_factor = next(f for f in OBS["serum_creatinine"]["units"].values() if f != 1.0)
    umol = [u for u, f in OBS["serum_creatinine"]["units"].items() if f == scr_factor]
    assert len(umol) == 3 and scr_factor == 0.011309658448314861

    patients = [r for r in resources if r["resourceType"] == "Patient"]
    conditions = [r for r in resources if r["resourceType"] == "Condition"]
    meds = [r for r in resources if r["resourceType"].startswith("Medication")]
    clinical = Counter(status(c, "clinicalStatus") for c in conditions)
    verification = Counter(status(c, "verificationStatus") for c in conditions)
    egfr_patients = {owner(o) for o in observations
                     if set(codes(o["code"], LOINC)) & set(OBS["egfr"]["loinc"])}
    details = Counter(o[2].split(":")[0] for o in outcomes if o[1] == "error")
    reads = read_all(resources)
    by_patient: dict[str, list[Resource]] = {}
    for r in resources:
        by_patient.setdefault(owner(r), []).append(r)

    def counting(pid: str, column: str) -> list[Resource]:
        """The patient's counting in-window observations of `column` with a known unit."""
        return [o for o in by_patient[pid] if o["resourceType"] == "Observation"
                and o["status"] in TABLE["observation_statuses"]
                and in_window(o["effectiveDateTime"])
                and any(q.get("code", q.get("unit")) in OBS[column]["units"]
                        for q in quantities(o, column))]

    def with_legacy(pid: str) -> bool:
        return any(q for o in by_patient[pid] if o["resourceType"] == "Observation"
                   and o["status"] in TABLE["observation_statuses"]
                   and in_window(o["effectiveDateTime"])
                   for q in quantities(o, "egfr_legacy"))

    rows = {pid: cells for pid, (outcome, _, cells) in reads.items() if outcome == "row"}
    kidney = Counter(
        "2021 eGFR" if counting(pid, "egfr") else
        "creatinine beside a legacy eGFR" if cells["serum_creatinine"] and with_legacy(pid) else
        "legacy eGFR only" if cells["egfr"] and not counting(pid, "serum_creatinine") else
        "creatinine" for pid, cells in rows.items())
    assert all(rows[pid]["egfr"] for pid in rows if counting(pid, "egfr"))
    both = sum(1 for pid in rows if counting(pid, "egfr") and with_legacy(pid))
    hf_icd = ("I11.0", "I13.0", "I13.2")
    htn_hf = [c for c in conditions if any(icd10_below(x, p) for x in codes(c["code"], ICD10CM)
                                           for p in hf_icd)]
    requests = [m for m in meds if m["resourceType"] == "MedicationRequest"]
    statin_atc = [x for m in meds if m["status"] == "active" and ordered(m)
                  for x in codes(m["medicationCodeableConcept"], ATC) if x.startswith("C10")]
    counting_in_window = Counter(  # (patient, column) -> counting in-window valid values
        (owner(o), column) for o in observations for column in OBS
        if o["status"] in TABLE["observation_statuses"] and in_window(o["effectiveDateTime"])
        for q in quantities(o, column) if q.get("code", q.get("unit")) in OBS[column]["units"])
    found = {
        "mmol/L cholesterol": obs_with("total_c", 38.67) + obs_with("hdl_c", 38.67),
        "umol/L creatinine": obs_with("serum_creatinine", scr_factor),
        **{f"creatinine in {u}": unit_keys("serum_creatinine")[u] for u in umol},
        "eGFR observations": len(egfr_patients),
        **{f"kidney: {k}": kidney[k] for k in ("2021 eGFR", "creatinine beside a legacy eGFR",
                                               "legacy eGFR only", "creatinine")},
        "2021 eGFR beside a legacy eGFR": both,
        "legacy eGFR in an unknown unit": sum(n for u, n in unit_keys("egfr_legacy").items()
                                              if u not in OBS["egfr_legacy"]["units"]),
        **{f"legacy eGFR {c}": sum(1 for o in observations if c in codes(o["code"], LOINC))
           for c in OBS["egfr_legacy"]["loinc"]},
        "BP panels": sum(1 for o in observations if "component" in o),
        "out of the window": sum(1 for o in observations if not in_window(o["effectiveDateTime"])),
        "older valid value in the window": sum(1 for n in counting_in_window.values() if n > 1),
        "entered-in-error": sum(1 for o in observations if o["status"] == "entered-in-error"),
        "preliminary / cancelled": sum(1 for o in observations
                                       if o["status"] in ("preliminary", "cancelled")),
        "unknown unit": sum(1 for _, q in qs if q.get("code", q.get("unit")) == "mg%"),
        "quantity without code": sum(1 for _, q in qs if "code" not in q),
        "error unknown_unit": details["unknown_unit"],
        "error missing": details["missing"],
        "gender other/unknown": sum(1 for p in patients if p["gender"] in ("other", "unknown")),
        "resolved conditions": clinical["resolved"],
        "inactive / remission": clinical["inactive"] + clinical["remission"],
        **{f"{v} condition": verification[v] for v in TABLE["condition_ignored_verification"]},
        "ICD-10-CM dotted": sum(1 for c in conditions
                                if any("." in x for x in codes(c["code"], ICD10CM))),
        "ICD-10-CM undotted, counting": sum(
            1 for c in conditions if any("." not in x and len(x) > 3
                                         for x in codes(c["code"], ICD10CM))
            and any(has_condition([c], s["column"]) for s in TABLE["conditions"])),
        "hypertensive heart disease with HF (known CVD)": sum(
            1 for c in htn_hf if reads[owner(c)][0] == "row"
            and reads[owner(c)][2]["known_cvd"] == "1"),
        "... counting as hypertension": sum(1 for c in htn_hf
                                            if has_condition([c], "hypertension")),
        "I11.9 / I13.1 (hypertension, not CVD)": sum(
            1 for c in conditions if any(icd10_below(x, p) for x in codes(c["code"], ICD10CM)
                                         for p in ("I11.9", "I13.1"))
            and has_condition([c], "hypertension") and not has_condition([c], "known_cvd")),
        "SNOMED conditions": sum(1 for c in conditions if codes(c["code"], SNOMED)),
        "MedicationRequest": sum(1 for m in meds if m["resourceType"] == "MedicationRequest"),
        "MedicationStatement": sum(1 for m in meds if m["resourceType"] == "MedicationStatement"),
        "ATC": sum(1 for m in meds if codes(m["medicationCodeableConcept"], ATC)),
        "RxNorm": sum(1 for m in meds if codes(m["medicationCodeableConcept"], RXNORM)),
        "stopped medications": sum(1 for m in meds if m["status"] != "active"),
        "statin by ATC C10BA": sum(1 for x in statin_atc if x.startswith("C10BA")),
        "active request, proposal / plan": sum(1 for m in requests if m["status"] == "active"
                                               and m.get("intent") in ("proposal", "plan")),
        "request without intent": sum(1 for m in requests if "intent" not in m),
        **{f"request intent {i}": sum(1 for m in requests if m.get("intent") == i)
           for i in TABLE["medication_request_intents"]},
    }
    assert all(found.values()), {k: v for k, v in found.items() if not v}
    # roughly the asked shares (of N = 300)
    assert 0.30 * N <= len(egfr_patients) <= 0.50 * N
    assert 0.20 * N <= found["BP panels"] <= 0.45 * N
    assert (found["error unknown_unit"] + found["error missing"]
            == round(0.02 * N) + round(0.03 * N) + round(0.01 * N))
    assert not any("intent" in m for m in meds if m["resourceType"] == "MedicationStatement")
    assert found["gender other/unknown"] == round(0.01 * N)
    # no birth date on 29 February
    assert not any(p["birthDate"].endswith("-02-29") for p in patients)
    # resolved MI among the known-CVD rows, and non-diabetics with a non-active diabetes
    mi = TABLE["conditions"][1]
    assert mi["column"] == "known_cvd"
    assert any(status(c, "clinicalStatus") == "resolved"
               and set(codes(c["code"], SNOMED)) & {"22298006", "399211009"}
               | {x for x in codes(c["code"], ICD10CM) if x.startswith(("I21", "I25.2"))}
               and reads[owner(c)][0] == "row" for c in conditions)
    assert any(reads[owner(c)][2].get("dm") == "0" and has_condition([c], "dm") == 0
               and set(codes(c["code"], SNOMED)) & set(TABLE["conditions"][0]["snomed"])
               | {x for x in codes(c["code"], ICD10CM) if x.startswith(("E10", "E11", "E13"))}
               for c in conditions)


def assert_a_reader_finds_the_expected_rows(data: Path) -> None:
    reads = read_all(bundle_resources(data))
    _, outcomes = read_csv(data / "expected-outcomes.csv")
    assert sorted(reads) == sorted(o[0] for o in outcomes)
    for pid, expected, detail in outcomes:
        outcome, found_detail, _ = reads[pid]
        assert (outcome, found_detail) == (expected, detail), pid
    for name in ("expected-prevent.csv", "expected-cvd-lr.csv"):
        header, rows = read_csv(data / name)
        columns = header.split(",")
        for row in rows:
            cells = reads[row[0]][2]
            assert row[1:] == [cells[c] for c in columns[1:]], (name, row[0])


def test_a_reader_of_the_fhir_finds_the_expected_rows(data):
    assert_a_reader_finds_the_expected_rows(data)


def test_the_bulk_files_read_the_same(data):
    bulk = [r for rs in bulk_resources(data).values() for r in rs]
    assert read_all(bulk) == read_all(bundle_resources(data))


def test_the_committed_example_is_what_the_generator_writes(tmp_path):
    readme = (ROOT / "examples" / "fhir" / "README.md").read_text()
    command = re.search(r"`[^`]*scripts/fhir_testdata\.py([^`]*)`", readme)
    assert command, "examples/fhir/README.md names the generator's command"
    args = command.group(1).split()
    target = args.index("--example") + 1
    args[target] = str(tmp_path / "bundle.json")
    run_generator(None, *args)
    for name in ("bundle.json", "prevent-patients.csv"):
        assert (tmp_path / name).read_bytes() == (ROOT / "examples" / "fhir" / name).read_bytes()
    reads = read_all(bundle_resources(tmp_path))
    header, rows = read_csv(tmp_path / "prevent-patients.csv")
    assert header == PREVENT_HEADER and 6 <= len(reads) <= 10
    for row in rows:
        assert row[1:] == [reads[row[0]][2][c] for c in header.split(",")[1:]]


def test_the_rust_fixture_is_what_the_generator_writes(tmp_path):
    """crates/pulsecure-cli/tests/fixtures/fhir (read by the end-to-end test
    crates/pulsecure-cli/tests/fhir_screening.rs) is exactly what its README's command writes,
    and the reader here finds its expected rows and outcomes."""
    readme = (FIXTURE / "README.md").read_text()
    command = re.search(r"`[^`]*scripts/fhir_testdata\.py([^`]*)`", readme)
    assert command, "the fixture's README.md names the generator's command"
    args = command.group(1).split()
    target = args.index("--out") + 1
    assert args[target] == str(FIXTURE.relative_to(ROOT))
    args[target] = str(tmp_path / "fhir")
    run_generator(None, *args)
    written = sorted(p.relative_to(tmp_path / "fhir") for p in (tmp_path / "fhir").rglob("*")
                     if p.is_file())
    committed = sorted(p.relative_to(FIXTURE) for p in FIXTURE.rglob("*")
                       if p.is_file() and p.name != "README.md")
    assert written == committed and len(written) == 10
    for name in written:
        assert (tmp_path / "fhir" / name).read_bytes() == (FIXTURE / name).read_bytes(), name
    assert_a_reader_finds_the_expected_rows(FIXTURE)
    _, outcomes = read_csv(FIXTURE / "expected-outcomes.csv")
    assert {o[1] if o[1] != "error" else o[2].split(":")[0] for o in outcomes} == {
        "row", "not_eligible_sex", "missing", "unknown_unit"}


@pytest.fixture(scope="module")
def generator() -> ModuleType:
    """The generator, imported (for many small data sets without a process each)."""
    spec = importlib.util.spec_from_file_location("fhir_testdata", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("seed", [1, 7, 2024])
def test_every_outcome_kind_from_20_patients_on(generator, seed):
    """From 20 patients on, whatever the seed: a row, a not-eligible sex, an error for a missing
    input and one for an unknown unit, as the reader here finds them."""
    mapping = generator.load_mapping()
    catalogue = generator.build_catalogue(mapping)
    for patients in [*range(20, 41), 57, 100]:
        people = generator.select_people(patients)
        records = generator.build_records(people, generator.plan_noise(people, seed, mapping),
                                          catalogue, AS_OF, seed)
        reads = read_all([r for record in records for r in record.resources])
        kinds = set()
        for record in records:
            outcome, detail, _ = reads[record.person.patient_id]
            assert (outcome, detail) == (record.outcome, record.detail), record.person.key
            kinds.add(outcome if outcome != "error" else detail.split(":")[0])
        assert kinds == {"row", "not_eligible_sex", "missing", "unknown_unit"}, (patients, seed)
