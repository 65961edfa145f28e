"""scripts/fhir_testdata.py: the FHIR test data is deterministic, the Bundle and the Bulk Data
files hold the same resources, every kind of noise is present, and a reader written here from
the mapping table's rules (independently of the generator; the rules of
crates/pulsecure-fhir/src/{extract,record,target,map}.rs: the most recent kidney measurement,
comparators, unmapped smoking answers, deceased patients, race, conditions and medications
dated after as-of, doNotPerform, ICD-10 in either system and any case, conditions without
clinicalStatus) turns the FHIR into exactly the expected CSV rows and outcomes. The committed
example and the Rust end-to-end test's fixture are what their documented commands write."""
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
ICD10_WHO = "http://hl7.org/fhir/sid/icd-10"
ATC = "http://www.whocc.no/atc"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
PREVENT_HEADER = ("patient_id,known_cvd,age,sex,race,sbp,bp_tx,total_c,hdl_c,statin,dm,smoking,"
                  "egfr,serum_creatinine")
CVD_LR_HEADER = ("patient_id,known_cvd,age,told_diabetes,systolic_bp,current_smoker,male,"
                 "told_high_bp")
OBS = {o["column"]: o for o in TABLE["observations"]}
SMOKING = TABLE["smoking"]
RACE = TABLE["race"]
FIXTURE = ROOT / "crates" / "pulsecure-cli" / "tests" / "fixtures" / "fhir"
# PREVENT's required inputs, in the CSV's order, each as the clinic columns any of which fills it
# (equation_screening.rs `columns`: serum_creatinine is the alternative to egfr).
PREVENT_REQUIRED = [["sbp"], ["total_c"], ["hdl_c"], ["smoking"], ["egfr", "serum_creatinine"]]
# Kidney measurements: the most recent wins; on the same day the higher rank (record.rs).
KIDNEY_RANK = {"egfr": 2, "serum_creatinine": 1, "egfr_legacy": 0}
OUTCOME_KINDS = {"row", "not_eligible_sex", "missing", "unknown_unit", "comparator",
                 "unmapped_answer", "deceased"}

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


def day_of(stamp: str) -> dt.date:
    """The date part as written (a time zone does not move it)."""
    return dt.date.fromisoformat(stamp[:10])


def in_window(stamp: str) -> bool:
    day = day_of(stamp)
    years = TABLE["default_lookback_years"]
    try:
        start = AS_OF.replace(year=AS_OF.year - years)
    except ValueError:
        start = AS_OF.replace(year=AS_OF.year - years, day=28)
    return start <= day <= AS_OF


def counting(obs: Resource) -> bool:
    """A counting status, in the window."""
    return obs["status"] in TABLE["observation_statuses"] and in_window(obs["effectiveDateTime"])


def codes(concept: Resource, system: str) -> list[str]:
    return [c["code"] for c in concept.get("coding", []) if c.get("system") == system]


def quantities(obs: Resource, column: str) -> list[tuple[str, Resource]]:
    """(LOINC code, valueQuantity) of `column` in one observation (itself or a panel
    component)."""
    spec = OBS[column]
    found = []
    for code in codes(obs["code"], LOINC):
        if code in spec["loinc"]:
            found.append((code, obs["valueQuantity"]))
    if set(codes(obs["code"], LOINC)) & set(spec.get("component_of", [])):
        for component in obs["component"]:
            for code in codes(component["code"], LOINC):
                if code in spec["loinc"]:
                    found.append((code, component["valueQuantity"]))
    return found


def unit_of(q: Resource) -> str | None:
    return q.get("code", q.get("unit"))


Latest = tuple[dt.date, tuple[str, Any], str]  # (day, ("value" | "unit" | "comparator", x), loinc)


def latest(observations: list[Resource], column: str) -> Latest | None:
    """The most recent counting observation of one column in the window (record.rs): its day,
    what it gives (("value", v in the CSV's unit), ("unit", the unknown unit) or
    ("comparator", c)) and its LOINC code; a later one of the same day in the input replaces an
    earlier one. None when nothing counts."""
    found: Latest | None = None
    for obs in observations:
        if not counting(obs):
            continue
        day = day_of(obs["effectiveDateTime"])
        for code, q in quantities(obs, column):
            factor = OBS[column]["units"].get(unit_of(q))
            result: tuple[str, Any] = (
                ("comparator", q["comparator"]) if "comparator" in q
                else ("unit", unit_of(q)) if factor is None else ("value", q["value"] * factor))
            if found is None or day >= found[0]:
                found = (day, result, code)
    return found


def kidney_candidates(observations: list[Resource]) -> dict[str, Latest]:
    """The most recent counting observation of each kidney kind."""
    return {c: found for c in KIDNEY_RANK if (found := latest(observations, c)) is not None}


def kidney_winner(candidates: dict[str, Latest]) -> str | None:
    """The most recent kidney kind; on the same day 98979-8, creatinine, legacy."""
    if not candidates:
        return None
    return max(candidates, key=lambda c: (candidates[c][0], KIDNEY_RANK[c]))


def read_kidney(observations: list[Resource]) -> dict[str, tuple[tuple[str, Any], str]]:
    """The kidney winner, as the CSV column it fills (a legacy eGFR fills `egfr`)."""
    candidates = kidney_candidates(observations)
    winner = kidney_winner(candidates)
    if winner is None:
        return {}
    _, result, code = candidates[winner]
    return {"serum_creatinine" if winner == "serum_creatinine" else "egfr": (result, code)}


def loinc_name(column: str) -> str:
    """How the reader names a missing column (target.rs `describe`)."""
    return SMOKING["loinc"] if column == "smoking" else "/".join(OBS[column]["loinc"])


def smoking_answer(obs: Resource) -> int | None:
    snomed = set(codes(obs.get("valueCodeableConcept", {}), SNOMED))
    if snomed & set(SMOKING["snomed_current"]):
        return 1
    return 0 if snomed & set(SMOKING["snomed_not_current"]) else None


def read_smoking(observations: list[Resource]) -> tuple[str, Any] | None:
    """The most recent counting smoking-status answer (by date; a later one of the same day in
    the input replaces an earlier one): ("value", 0 | 1), or ("unmapped", None) for an answer
    in neither list, whatever older answers say."""
    found: tuple[dt.date, int | None] | None = None
    for obs in observations:
        if counting(obs) and SMOKING["loinc"] in codes(obs["code"], LOINC):
            day = day_of(obs["effectiveDateTime"])
            if found is None or day >= found[0]:
                found = (day, smoking_answer(obs))
    if found is None:
        return None
    return ("unmapped", None) if found[1] is None else ("value", found[1])


def read_race(patient: Resource) -> str | None:
    """The race level of the US Core race extension's OMB category; None without one."""
    for ext in patient.get("extension", []):
        if ext.get("url") != RACE["extension"]:
            continue
        for sub in ext.get("extension", []):
            code = sub.get("valueCoding", {}).get("code")
            if sub.get("url") == RACE["category_url"] and code is not None:
                return str(RACE["levels"].get(code.strip(), RACE["other_level"]))
        return None
    return None


def deceased(patient: Resource) -> bool:
    """deceasedBoolean true, or deceasedDateTime on or before as-of."""
    when = patient.get("deceasedDateTime")
    return patient.get("deceasedBoolean") is True or (when is not None and day_of(when) <= AS_OF)


def status(condition: Resource, element: str) -> str | None:
    """The first code of a Condition's clinicalStatus / verificationStatus (None if absent)."""
    return condition.get(element, {}).get("coding", [{}])[0].get("code")


def icd10_below(code: str, listed: str) -> bool:
    """ICD-10 (either system): with the dots removed and in upper case, `code` starts with the
    listed code (map.rs)."""
    return code.replace(".", "").upper().startswith(listed.replace(".", "").upper())


def condition_sets(cond: Resource) -> set[str]:
    """The sets a Condition's codes fall in (whatever its statuses and dates)."""
    found = set()
    for spec in TABLE["conditions"]:
        snomed = set(codes(cond["code"], SNOMED)) & set(spec["snomed"])
        icd = [c for system in TABLE["icd10_systems"] for c in codes(cond["code"], system)
               if any(icd10_below(c, p) for p in spec["icd10cm"])]
        if snomed or icd:
            found.add(spec["column"])
    return found


def dated_later(cond: Resource) -> bool:
    """An onsetDateTime or recordedDate after as-of."""
    return any(day_of(cond[k]) > AS_OF for k in ("onsetDateTime", "recordedDate") if k in cond)


def has_condition(conditions: list[Resource], column: str) -> int:
    spec = next(c for c in TABLE["conditions"] if c["column"] == column)
    for cond in conditions:
        if status(cond, "verificationStatus") in TABLE["condition_ignored_verification"]:
            continue
        if dated_later(cond):
            continue
        clinical = status(cond, "clinicalStatus") or TABLE["condition_without_clinical_status"]
        if spec["counts"] == "active" and clinical not in TABLE["condition_active_statuses"]:
            continue
        if column in condition_sets(cond):
            return 1
    return 0


def ordered(med: Resource) -> bool:
    """A MedicationStatement, or a MedicationRequest without an intent or with one the table
    lists (an order, not a proposal or a plan), not doNotPerform, not authored after as-of."""
    if med["resourceType"] == "MedicationStatement":
        return True
    return (("intent" not in med or med["intent"] in TABLE["medication_request_intents"])
            and med.get("doNotPerform") is not True
            and ("authoredOn" not in med or day_of(med["authoredOn"]) <= AS_OF))


def in_class(med: Resource, column: str) -> bool:
    spec = next(m for m in TABLE["medications"] if m["column"] == column)
    concept = med["medicationCodeableConcept"]
    return bool(any(c.startswith(tuple(spec["atc_prefixes"])) for c in codes(concept, ATC))
                or set(codes(concept, RXNORM)) & set(spec["rxnorm_ingredients"]))


def on_medication(medications: list[Resource], column: str) -> int:
    return int(any(med["status"] in TABLE["medication_statuses"] and ordered(med)
                   and in_class(med, column) for med in medications))


def blocked_detail(result: tuple[str, Any], code: str) -> str:
    """The expected-outcomes detail of an unusable most recent observation."""
    kind, what = result
    if kind == "unit":
        return f"unknown_unit:{code}:{what}"
    return f"comparator:{code}" if kind == "comparator" else f"unmapped_answer:{code}"


def read_patient(resources: list[Resource]) -> tuple[str, str, dict[str, str]]:
    """(outcome, detail, CSV cells by column) of one patient's resources."""
    by_type: dict[str, list[Resource]] = {}
    for r in resources:
        by_type.setdefault(r["resourceType"], []).append(r)
    (patient,) = by_type["Patient"]
    if deceased(patient):
        return "error", "deceased", {}
    if patient["gender"] not in ("male", "female"):
        return "not_eligible_sex", f"gender:{patient['gender']}", {}
    observations = by_type.get("Observation", [])
    chosen = {c: (found[1], found[2]) for c in ("sbp", "total_c", "hdl_c")
              if (found := latest(observations, c)) is not None}
    chosen.update(read_kidney(observations))
    smoking = read_smoking(observations)
    if smoking is not None:
        chosen["smoking"] = (smoking, SMOKING["loinc"])
    values: dict[str, float | int | None] = {
        c: r[0][1] if r[0][0] == "value" else None for c, r in chosen.items()}
    values.setdefault("egfr", None)
    values.setdefault("serum_creatinine", None)
    # target.rs: an input none of whose columns has a value is blocked by the first column's
    # unusable most recent observation, else missing; the first block is the error, else
    # every missing one.
    blocked, missing = [], []
    for any_of in PREVENT_REQUIRED:
        if any(values.get(c) is not None for c in any_of):
            continue
        block = next((chosen[c] for c in any_of if c in chosen), None)
        if block:
            blocked.append(blocked_detail(*block))
        else:
            missing.append("|".join(loinc_name(c) for c in any_of))
    if blocked:
        return "error", blocked[0], {}
    if missing:
        return "error", "missing:" + ", ".join(missing), {}
    born = dt.date.fromisoformat(patient["birthDate"])
    conditions = by_type.get("Condition", [])
    medications = by_type.get("MedicationRequest", []) + by_type.get("MedicationStatement", [])
    values.update(
        age=AS_OF.year - born.year - ((AS_OF.month, AS_OF.day) < (born.month, born.day)),
        known_cvd=has_condition(conditions, "known_cvd"), dm=has_condition(conditions, "dm"),
        bp_tx=on_medication(medications, "bp_tx"), statin=on_medication(medications, "statin"),
        male=int(patient["gender"] == "male"))
    values["told_high_bp"] = int(has_condition(conditions, "hypertension") == 1
                                 or values["bp_tx"] == 1)
    cells = {k: "" if v is None else fmt(v) for k, v in values.items()}
    cells["sex"] = patient["gender"]
    cells["race"] = read_race(patient) or ""
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
    egfr, scr = PREVENT_HEADER.split(",").index("egfr"), PREVENT_HEADER.split(",").index(
        "serum_creatinine")
    for row in prevent:  # exactly one of egfr / serum_creatinine
        assert (row[egfr] == "") != (row[scr] == "")
    counts = Counter(o[1] for o in outcomes)
    assert set(counts) == {"row", "error", "not_eligible_sex"}
    assert counts["row"] > 0.8 * N
    details = Counter(o[2] for o in outcomes if o[1] == "error")
    legacy = [d for d in details if re.fullmatch(r"unknown_unit:(33914-3|62238-1):mL/min", d)]
    assert len(legacy) >= 1
    assert set(details) - set(legacy) == {
        "missing:2085-9", "missing:98979-8|2160-0", "unknown_unit:2093-3:mg%",
        "unknown_unit:2160-0:mg%", "unknown_unit:98979-8:mL/min", "comparator:98979-8",
        "comparator:2085-9", "comparator:2160-0", "comparator:2093-3",
        "unmapped_answer:72166-2", "deceased"}


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
                   and OBS[column]["units"].get(unit_of(q)) == unit_factor)

    def unit_keys(column: str) -> Counter[str | None]:
        return Counter(unit_of(q) for o, q in qs
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
    errors = Counter(o[2] for o in outcomes if o[1] == "error")
    details = Counter(d.split(":")[0] for d in errors.elements())
    reads = read_all(resources)
    by_patient: dict[str, list[Resource]] = {}
    for r in resources:
        by_patient.setdefault(owner(r), []).append(r)
    rows = {pid: cells for pid, (outcome, _, cells) in reads.items() if outcome == "row"}

    def patient_obs(pid: str) -> list[Resource]:
        return [r for r in by_patient[pid] if r["resourceType"] == "Observation"]

    def kidney_case(pid: str) -> set[str]:
        """How the patient's kidney winner won (the reader's rule)."""
        candidates = kidney_candidates(patient_obs(pid))
        winner = kidney_winner(candidates)
        assert winner is not None
        day = candidates[winner][0]
        cases = {f"{winner} wins"}
        for kind, (other_day, _, _) in candidates.items():
            if kind != winner:
                cases.add(f"{winner} wins over a{' same-day' if other_day == day else 'n older'}"
                          f" {kind}")
        if len(candidates) == 1:
            cases.add(f"{winner} alone")
        return cases

    kidney = Counter(case for pid in rows for case in kidney_case(pid))
    flawed_kidney = Counter(case for pid, (outcome, detail, _) in reads.items()
                            if outcome == "error" and detail.split(":")[0] in (
                                "unknown_unit", "comparator")
                            and detail.split(":")[1] in ("98979-8", "2160-0", "33914-3",
                                                         "62238-1")
                            for case in kidney_case(pid))
    hf_icd = ("I11.0", "I13.0", "I13.2")
    icd_codes = [(system, x) for c in conditions for system in TABLE["icd10_systems"]
                 for x in codes(c["code"], system)]
    htn_hf = [c for c in conditions if any(icd10_below(x, p) for s in TABLE["icd10_systems"]
                                           for x in codes(c["code"], s) for p in hf_icd)]
    requests = [m for m in meds if m["resourceType"] == "MedicationRequest"]
    statin_atc = [x for m in meds if m["status"] == "active" and ordered(m)
                  for x in codes(m["medicationCodeableConcept"], ATC) if x.startswith("C10")]
    counting_in_window = Counter(  # (patient, column) -> counting in-window valid values
        (owner(o), column) for o in observations for column in OBS if counting(o)
        for _, q in quantities(o, column) if unit_of(q) in OBS[column]["units"]
        and "comparator" not in q)
    smoking_obs = [o for o in observations if SMOKING["loinc"] in codes(o["code"], LOINC)]
    answers = Counter(x for o in smoking_obs for x in codes(o["valueCodeableConcept"], SNOMED))
    all_condition_codes = Counter(x for c in conditions for coding in c["code"]["coding"]
                                  for x in [coding["code"]])

    def row_zero_in_a_set_of(cond: Resource) -> bool:
        """The condition's owner is a row with 0 in a set the condition's codes fall in."""
        cells = rows.get(owner(cond))
        return cells is not None and any(cells[s] == "0" for s in condition_sets(cond)
                                         if s in cells)

    def zero_in_class(med: Resource) -> bool:
        cells = rows.get(owner(med))
        return cells is not None and any(cells[c] == "0" and in_class(med, c)
                                         for c in ("bp_tx", "statin"))

    later = [c for c in conditions if dated_later(c)]
    races = Counter(cells["race"] for cells in rows.values())
    race_codes = Counter(sub["valueCoding"]["code"] for p in patients
                         for ext in p.get("extension", []) if ext["url"] == RACE["extension"]
                         for sub in ext["extension"] if sub["url"] == "ombCategory")
    found = {
        "mmol/L cholesterol": obs_with("total_c", 38.67) + obs_with("hdl_c", 38.67),
        "umol/L creatinine": obs_with("serum_creatinine", scr_factor),
        **{f"creatinine in {u}": unit_keys("serum_creatinine")[u] for u in umol},
        "eGFR observations": len(egfr_patients),
        # kidney function: the most recent kind wins, on the same day 98979-8 > 2160-0 > legacy
        **{f"kidney: {k}": kidney[k] for k in (
            "egfr wins over a same-day serum_creatinine", "egfr wins over an older "
            "serum_creatinine", "serum_creatinine wins over an older egfr",
            "egfr_legacy wins over an older serum_creatinine", "egfr_legacy wins over an older "
            "egfr", "serum_creatinine wins over a same-day egfr_legacy",
            "egfr wins over a same-day egfr_legacy", "serum_creatinine wins over an older "
            "egfr_legacy", "egfr wins over an older egfr_legacy", "egfr_legacy alone",
            "serum_creatinine alone")},
        **{f"error on the kidney winner: {k}": flawed_kidney[k] for k in (
            "egfr wins over a same-day serum_creatinine", "serum_creatinine wins over an older "
            "egfr", "egfr wins over an older serum_creatinine",
            "egfr_legacy wins over an older serum_creatinine")},
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
        "unknown unit": sum(1 for _, q in qs if unit_of(q) in ("mg%", "mL/min")),
        "quantity without code": sum(1 for _, q in qs if "code" not in q),
        **{f"comparator {c}": sum(1 for _, q in qs if q.get("comparator") == c)
           for c in ("<", "<=", ">=", ">")},
        "an older comparator, ignored (rows)": sum(1 for o, q in qs
                                                   if "comparator" in q and owner(o) in rows),
        **{f"error {k}": details[k] for k in OUTCOME_KINDS - {"row", "not_eligible_sex"}},
        **{f"smoking answer {c}": answers[c] for c in (
            "65568007", "59978006", "82302008", "8392000", "266927001")},
        "smoking answer in a local code": sum(1 for o in smoking_obs if not codes(
            o["valueCodeableConcept"], SNOMED)),
        "an older unmapped smoking answer, ignored (rows)": sum(
            1 for o in smoking_obs if smoking_answer(o) is None and owner(o) in rows),
        "an older mapped answer under an unmapped one": sum(
            1 for o in smoking_obs if smoking_answer(o) is not None
            and reads[owner(o)][1] == "unmapped_answer:72166-2"),
        "gender other/unknown": sum(1 for p in patients if p["gender"] in ("other", "unknown")),
        "deceasedBoolean true": sum(1 for p in patients if p.get("deceasedBoolean") is True),
        "deceasedDateTime before as-of": sum(1 for p in patients if "deceasedDateTime" in p
                                             and day_of(p["deceasedDateTime"]) < AS_OF),
        "deceasedDateTime on as-of": sum(1 for p in patients if "deceasedDateTime" in p
                                         and day_of(p["deceasedDateTime"]) == AS_OF),
        "deceasedDateTime after as-of (a row)": sum(
            1 for p in patients if "deceasedDateTime" in p and p["id"] in rows),
        "deceasedBoolean false (a row)": sum(1 for p in patients
                                             if p.get("deceasedBoolean") is False
                                             and p["id"] in rows),
        **{f"race {level or 'absent'}": races[level] for level in ("white", "black", "other", "")},
        **{f"race code {c}": race_codes[c] for c in ("2106-3", "2054-5", "2028-9", "2131-1")},
        "ethnicity extension": sum(1 for p in patients for ext in p.get("extension", [])
                                   if ext["url"].endswith("us-core-ethnicity")),
        "resolved conditions": clinical["resolved"],
        "inactive / remission": clinical["inactive"] + clinical["remission"],
        "without clinicalStatus, counting as active": sum(
            1 for c in conditions if status(c, "clinicalStatus") is None
            and any(has_condition([c], s["column"]) for s in TABLE["conditions"]
                    if s["counts"] == "active")),
        **{f"{v} condition": verification[v] for v in TABLE["condition_ignored_verification"]},
        "ICD-10-CM dotted": sum(1 for s, x in icd_codes if s == ICD10CM and "." in x),
        "ICD-10-CM undotted, counting": sum(
            1 for c in conditions if any("." not in x and len(x) > 3
                                         for x in codes(c["code"], ICD10CM))
            and any(has_condition([c], s["column"]) for s in TABLE["conditions"])),
        "WHO ICD-10, counting": sum(1 for c in conditions if codes(c["code"], ICD10_WHO)
                                    and any(has_condition([c], s["column"])
                                            for s in TABLE["conditions"])),
        "ICD-10 in lower case, counting": sum(
            1 for c in conditions if any(x != x.upper() for s in TABLE["icd10_systems"]
                                         for x in codes(c["code"], s))
            and any(has_condition([c], s["column"]) for s in TABLE["conditions"])),
        **{f"condition code {c}": all_condition_codes[c]
           for c in ("1755008", "Z86.73", "1481000119100")},
        "condition code Z95.1 / Z95.5": all_condition_codes["Z95.1"] + all_condition_codes["Z95.5"],
        "onset after as-of (a set the row lacks)": sum(
            1 for c in later if day_of(c.get("onsetDateTime", "1900-01-01")) > AS_OF
            and row_zero_in_a_set_of(c)),
        "recordedDate after as-of, onset before (a set the row lacks)": sum(
            1 for c in later if "onsetDateTime" in c and day_of(c["onsetDateTime"]) <= AS_OF
            and row_zero_in_a_set_of(c)),
        "recordedDate after as-of, no onset (a set the row lacks)": sum(
            1 for c in later if "onsetDateTime" not in c and row_zero_in_a_set_of(c)),
        "recordedDate before as-of, counting": sum(
            1 for c in conditions if "recordedDate" in c and not dated_later(c)
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
        "active order authored after as-of (a class the row lacks)": sum(
            1 for m in requests if m["status"] == "active" and day_of(m["authoredOn"]) > AS_OF
            and zero_in_class(m)),
        "active order, doNotPerform (a class the row lacks)": sum(
            1 for m in requests if m["status"] == "active" and m.get("doNotPerform") is True
            and zero_in_class(m)),
        "request without intent": sum(1 for m in requests if "intent" not in m),
        **{f"request intent {i}": sum(1 for m in requests if m.get("intent") == i)
           for i in TABLE["medication_request_intents"]},
    }
    assert all(found.values()), {k: v for k, v in found.items() if not v}
    # roughly the asked shares (of N = 300)
    assert 0.30 * N <= len(egfr_patients) <= 0.50 * N
    assert 0.20 * N <= found["BP panels"] <= 0.45 * N
    assert sum(errors.values()) == sum(round(share * N) for share in (
        0.03, 0.03, 0.01, 0.03, 0.02, 0.03))  # bad unit, HDL, kidney, comparator, smoking, dead
    assert not any("intent" in m or "doNotPerform" in m
                   for m in meds if m["resourceType"] == "MedicationStatement")
    assert found["gender other/unknown"] == round(0.01 * N)
    # no birth date on 29 February
    assert not any(p["birthDate"].endswith("-02-29") for p in patients)
    # resolved MI among the known-CVD rows, and non-diabetics with a non-active diabetes
    mi = TABLE["conditions"][1]
    assert mi["column"] == "known_cvd"
    assert any(status(c, "clinicalStatus") == "resolved"
               and set(codes(c["code"], SNOMED)) & {"22298006", "399211009", "1755008"}
               | {x for x in codes(c["code"], ICD10CM) if x.startswith(("I21", "I25.2"))}
               and reads[owner(c)][0] == "row" for c in conditions)
    assert any(reads[owner(c)][2].get("dm") == "0" and has_condition([c], "dm") == 0
               and status(c, "clinicalStatus") in ("inactive", "resolved", "remission")
               and "dm" in condition_sets(c) for c in conditions)


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
    assert {o[1] if o[1] != "error" else o[2].split(":")[0] for o in outcomes} == OUTCOME_KINDS


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
    """From 20 patients on, whatever the seed: a row, a not-eligible sex, and an error of each
    kind (a missing input, an unknown unit, a comparator, an unmapped smoking answer, a deceased
    patient), as the reader here finds them."""
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
        assert kinds == OUTCOME_KINDS, (patients, seed)
