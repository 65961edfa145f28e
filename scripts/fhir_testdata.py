#!/usr/bin/env python3
"""Deterministic FHIR R4 test data for the FHIR reader (crates/pulsecure-fhir), from NHANES.

    python scripts/fhir_testdata.py --out DIR [--patients N] [--seed S] [--as-of YYYY-MM-DD]
    python scripts/fhir_testdata.py --patients 10 --example examples/fhir/bundle.json

The same people are written three ways: FHIR R4 resources (DIR/bundle.json, a Bundle of type
"collection", and DIR/bulk/, a Bulk Data export: one NDJSON file per resource type, Observation
split in Observation.1.ndjson and Observation.2.ndjson, every file shuffled so that a reader
must join on Patient/<id>), and two CSV files in the project's column terms
(DIR/expected-prevent.csv, DIR/expected-cvd-lr.csv) holding exactly what a correct reader of
the FHIR, following the mapping table, extracts. DIR/expected-outcomes.csv gives every patient's
expected outcome: `row`, `not_eligible_sex` or `error` with a detail:

- `missing:<codes>`: no counting observation in the window (the LOINC codes as the reader's
  error column names them; an alternative as `missing:98979-8|2160-0` for eGFR or creatinine);
- `unknown_unit:<loinc>:<unit>`: the most recent observation has a unit the table does not
  convert (<loinc>: the code of that observation);
- `comparator:<loinc>`: the most recent observation's Quantity has a comparator (`<`, `>=`,
  ...): a bound, not a measurement;
- `unmapped_answer:72166-2`: the most recent smoking-status answer is in neither of the
  table's lists (266927001 "unknown if ever smoked", a local code), whatever older ones say;
- `deceased`: `deceasedBoolean` true, or `deceasedDateTime` on or before the as-of date.

From 20 patients on, each of these kinds is present (the deciding noise goes to disjoint
patients). The outcomes are PREVENT's (expected-cvd-lr.csv holds the same rows): cvd-lr reads
no cholesterol or kidney function. Race matters only to the PCE: expected-prevent.csv has a
`race` column (black / white / other from the US Core race extension's OMB category, empty for
the few patients written without the extension; that is no error in expected-outcomes.csv).

Kidney function follows the reader (crates/pulsecure-fhir/src/record.rs): of the three kidney
measurements (CKD-EPI 2021 eGFR 98979-8, creatinine 2160-0, an eGFR by an older formula, the
table's `egfr_legacy`: MDRD 33914-3, CKD-EPI 2009 62238-1), each the most recent counting
observation of its kind in the window, the most recent wins; on the same day 98979-8 before
creatinine before the older formula. The CSV's `egfr` holds a 98979-8 or older-formula winner,
`serum_creatinine` (mg/dL after the table's factor) a creatinine winner; an unknown unit or a
comparator on the winner is the patient's error, naming the winner's own LOINC code.
Conditions follow the table: codes of either ICD-10 system (ICD-10-CM, WHO ICD-10) match
case-insensitively (some are written in lower case), a Condition without clinicalStatus counts
as the table's `condition_without_clinical_status` (active), one whose onsetDateTime or
recordedDate is after the as-of date does not count. A MedicationRequest authored after the
as-of date, or with doNotPerform true, does not count. The condition and medication flags are
those the table's rules give for the resources written (checked against the NHANES answers
they are written from).

The mapping table crates/pulsecure-fhir/mapping/r4-map.json is the contract: every LOINC code,
unit spelling and conversion factor comes from it, and the few hand-picked SNOMED CT, ICD-10,
ATC, RxNorm and OMB race codes below (chosen for their meaning: an MI code for a heart attack,
...) are checked against it when it is loaded (a code the table would not accept stops the
generator; so does a distractor code it would accept).

Rows used: the participants of the hash-checked PREVENT extract
(training/data/nhanes_2013_2014_prevent.csv, with RIDRETH3 from the race extract beside it)
whose every PREVENT input is known (`training.prevent_cohort.patient_inputs`, CVD history
known), in SEQN order, minus the calibration and test splits of cvd-lr v3
(`training.train_v3.split` with its DEFAULT_SEED, as `training.train_v3.run` does). That is the
v3 training split plus the participants v3 leaves outside its cohort (known CVD, an input
outside PREVENT's published range, a lab-free candidate missing), whom no split holds: 2,115
people, 316 with known CVD. They are kept because the test data must carry known CVD and
out-of-range values. The first N are used; when N exceeds the pool the pool is reused, the k-th
reuse of SEQN s being patient "nh-s-k" (k >= 2) with its own noise.

The PREVENT inputs are the project's (`prevent_cohort.patient_inputs`: SBP the mean of the
available readings, bp_tx, statin, dm, smoking with the NHANES skip chains, eGFR by race-free
CKD-EPI 2021, race from RIDRETH3). Noise (shares of N, deterministic from the seed) is
described in `SHARES`.
"""
from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import functools
import json
import random
import sys
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from training import prevent_cohort as P  # noqa: E402

MAP_PATH = REPO / "crates" / "pulsecure-fhir" / "mapping" / "r4-map.json"
DEFAULT_AS_OF = "2026-06-30"
DEFAULT_PATIENTS = 300
DEFAULT_SEED = 7

Resource = dict[str, Any]

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
SNOMED = "http://snomed.info/sct"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
ICD10_WHO = "http://hl7.org/fhir/sid/icd-10"
ATC = "http://www.whocc.no/atc"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
OBS_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
COND_CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
COND_VERIFICATION = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
COND_CATEGORY = "http://terminology.hl7.org/CodeSystem/condition-category"
LOCAL_CODES = "urn:pulsecure:testlab"
NHANES_SEQN = "https://wwwn.cdc.gov/nchs/nhanes/seqn"
US_CORE_ETHNICITY = "http://hl7.org/fhir/us/core/StructureDefinition/us-core-ethnicity"
CDC_RACE_ETHNICITY = "urn:oid:2.16.840.1.113883.6.238"
UUID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://pulsecure.invalid/fhir-testdata")

DIASTOLIC_LOINC = "8462-4"  # the panel's second component (not read; not in the table)
PANEL_DISPLAY = {"85354-9": "Blood pressure panel with all children optional",
                 "55284-4": "Blood pressure systolic and diastolic"}
BAD_UNITS = {"sbp": "cm[Hg]", "total_c": "mg%", "hdl_c": "mg%", "serum_creatinine": "mg%",
             "egfr": "mL/min", "egfr_legacy": "mL/min"}
# Bounds written with a Quantity.comparator (a value the lab reports as "<" or ">" a limit).
COMPARATOR_BOUNDS = {"sbp": 250.0, "total_c": 50.0, "hdl_c": 20.0, "serum_creatinine": 0.3,
                     "egfr": 90.0, "egfr_legacy": 60.0}
COMPARATORS = (">", "<", ">=", "<=")
# Kidney function (the table's columns; the reader's rule, crates/pulsecure-fhir/src/record.rs):
# the most recent of the three kinds wins; on the same day the higher rank.
EGFR, SCR, EGFR_LEGACY = "egfr", "serum_creatinine", "egfr_legacy"
KIDNEY_COLUMNS = (EGFR, SCR, EGFR_LEGACY)
KIDNEY_RANK = {EGFR: 2, SCR: 1, EGFR_LEGACY: 0}
KIDNEY = "kidney"  # noise target: the kidney observation the reader uses (see `kidney_plan`)
NUMERIC_COLUMNS = ("sbp", "total_c", "hdl_c", SCR, EGFR, EGFR_LEGACY)
NOT_COUNTING_STATUSES = ("entered-in-error", "entered-in-error", "preliminary", "cancelled")
# Condition.verificationStatus codes (R4); the table says which never count.
VERIFICATION_STATUSES = ("unconfirmed", "provisional", "differential", "confirmed", "refuted",
                         "entered-in-error")
# MedicationRequest.intent codes that are not an order (the table must not list them).
NOT_ORDER_INTENTS = ("proposal", "plan")

#: Noise shares (of all patients unless the pool says otherwise); each quota is at least 1.
SHARES = {
    # -- deciding the outcome (disjoint patients, `EXCLUSIVE_KINDS`) --
    "gender_other": 0.01,        # gender "other" / "unknown": not eligible (sex)
    "bad_unit": 0.03,            # most recent TC, creatinine, 2021 or legacy eGFR (the kidney
                                 # winner, an older valid one beside it) in an unknown unit
    "hdl_missing": 0.03,         # no HDL, or only outside the window: error
    "kidney_missing": 0.01,      # no counting eGFR or creatinine in the window: error
    "comparator": 0.03,          # most recent eGFR (also same day as a creatinine), HDL,
                                 # creatinine or TC with a Quantity.comparator: error
    "unmapped_smoking": 0.02,    # most recent smoking answer in neither list: error
    "deceased": 0.03,            # deceasedBoolean true / deceasedDateTime <= as-of: error
    # -- the rest --
    "tc_mmol": 0.25,             # total cholesterol in mmol/L
    "hdl_mmol": 0.25,            # HDL in mmol/L
    "scr_umol": 0.20,            # creatinine in umol/L, µmol/L or μmol/L (spellings in turn)
    "egfr_obs": 0.40,            # a CKD-EPI 2021 eGFR too: the same day as the creatinine (it
                                 # wins), newer (it wins) or older (the creatinine wins)
    "legacy_with_scr": 0.25,     # of those without one: a legacy eGFR too, older (also in an
                                 # unknown unit), the same day (both ignored) or newer (used)
    "legacy_with_2021": 0.10,    # of those with one: a legacy eGFR too, older, same day, newer
    "legacy_only": 0.04,         # of those without one: a legacy eGFR, no creatinine (it is used)
    "sbp_panel": 0.30,           # SBP as a component of a blood-pressure panel
    "out_of_window": 0.20,       # an older observation outside the window, other value
    "older_in_window": 0.15,     # an older counting observation in the window, other value
    "invalid_newer": 0.10,       # a newer entered-in-error / preliminary / cancelled one
    "old_bad_unit": 0.05,        # an older (in-window) observation with an unknown unit
    "old_comparator": 0.05,      # an older (in-window) observation with a comparator (for
                                 # kidney function: an older 2021 eGFR ">90")
    "old_unmapped_smoking": 0.05,  # an older smoking answer in neither list (ignored)
    "smoking_new_current": 0.30,   # of current smokers: answered 65568007 / 59978006 / 82302008
    "smoking_new_not_current": 0.10,  # of the others: answered 8392000 (non-smoker)
    "unit_text_only": 0.10,      # per patient: one quantity without `code` (reader uses unit)
    "local_coding": 0.15,        # per patient: a local coding before the LOINC one
    "resolved_dm": 0.08,         # of non-diabetics: an inactive/resolved/remission diabetes
    "mi_resolved": 0.50,         # of those with a heart attack: the MI condition is resolved
    "htn_resolved": 0.15,        # of those on BP meds: hypertension resolved (told_high_bp 1)
    "htn_heart_failure": 0.50,   # of those with heart failure and told high BP: HF coded
                                 # I11.0 / I13.0 / I13.2 (known CVD, and hypertension if active)
    "refuted": 0.10,             # a condition with a verification status the table ignores
    "new_condition_codes": 0.30,  # of those with CVD or diabetes: 1755008 (old MI), Z95.1 /
                                  # Z95.5 (CHD), Z86.73 (stroke), 1481000119100 (diabetes)
    "icd_lowercase": 0.10,       # of those with a condition: ICD-10 codes in lower case
    "icd10_who": 0.10,           # of those with a condition: ICD-10 codes in the WHO system
    "no_clinical_status": 0.10,  # of those with an active condition: written without
                                 # clinicalStatus (an encounter diagnosis; counts as active)
    "condition_future": 0.05,    # of those missing a set: a condition of it whose onset, or
                                 # recordedDate, is after as-of (does not count)
    "stopped_med": 0.12,         # a stopped / completed / cancelled BP med or statin
    "statin_combo": 0.25,        # of statin users: the statin as an ATC C10BA combination
    "not_ordered": 0.05,         # an active MedicationRequest with intent proposal / plan
    "med_future": 0.04,          # of those missing a class: an order of it authored after as-of
    "do_not_perform": 0.04,      # of those missing a class: an order of it with doNotPerform
    "distractor": 0.20,          # a condition outside every set (e.g. I26.99, E785)
    "race_absent": 0.05,         # no US Core race extension (race empty; not an error)
    "alive_deceased_element": 0.03,  # deceasedBoolean false / deceasedDateTime after as-of
}

# Hand-picked codes, by meaning; every one is checked against the table in `Catalogue`.
# ICD-10-CM codes are written with or without the dot (E119 is E11.9).
CVD_ITEM_CODES: dict[str, dict[str, list[str]]] = {
    "MCQ160B": {"snomed": ["42343007", "84114007"], "icd10cm": ["I50.9", "I50.22", "I509"]},  # HF
    "MCQ160C": {"snomed": ["53741008", "414545008"],
                "icd10cm": ["I25.10", "I25.9", "I2510"]},  # CHD
    "MCQ160D": {"snomed": ["194828000", "233819005"], "icd10cm": ["I20.9", "I20.8"]},  # angina
    "MCQ160E": {"snomed": ["22298006", "399211009"], "icd10cm": ["I21.9", "I25.2", "I219"]},  # MI
    "MCQ160F": {"snomed": ["230690007", "422504002"],
                "icd10cm": ["I63.9", "I69.30", "I639"]},  # stroke
}
# The table's newer codes, written for the patients with `new_condition_codes` (item ->
# (system, codes, text)): an old MI, a coronary bypass graft or angioplasty implant, a history
# of stroke (ICD-10-CM only: not written in the WHO system), type 2 diabetes.
NEW_CVD_CODES: dict[str, tuple[str, list[str], str]] = {
    "MCQ160E": ("snomed", ["1755008"], "Old myocardial infarction"),
    "MCQ160C": ("icd10", ["Z95.1", "Z95.5"], "Presence of coronary bypass graft or stent"),
    "MCQ160F": ("icd10", ["Z86.73"], "Personal history of cerebral infarction"),
}
NEW_DM_SNOMED = "1481000119100"
HF_ITEM = "MCQ160B"
# Hypertensive heart (and chronic kidney) disease with heart failure: known CVD and hypertension.
HTN_HF_ICD = ["I11.0", "I13.0", "I13.2", "I110"]
MI_ITEM = "MCQ160E"
CVD_ITEM_TEXT = {"MCQ160B": "Heart failure", "MCQ160C": "Coronary heart disease",
                 "MCQ160D": "Angina pectoris", "MCQ160E": "Myocardial infarction",
                 "MCQ160F": "Stroke"}
DM_ICD = ["E11.9", "E11.65", "E11", "E10.9", "E13.9", "E119", "E1165"]
# Hypertension only (I11.9, I13.10: hypertensive heart disease without heart failure).
HTN_ICD = ["I10", "I11.9", "I12.9", "I15.0", "I119", "I13.10"]
# ICD-10-CM codes WHO ICD-10 does not have (not written in the WHO system, nor are codes without
# their dot, a US habit).
ICD10CM_ONLY = {"I50.22", "I25.10", "I69.30", "E11.65", "I13.10", "Z86.73", "I48.91", "I26.99"}
DISTRACTOR_CONDITIONS = [  # (SNOMED, ICD-10-CM, text): in no set of the table
    ("55822004", "E78.5", "Hyperlipidemia"), ("49436004", "I48.91", "Atrial fibrillation"),
    ("59282003", "I26.99", "Pulmonary embolism"), ("414916001", "E66.9", "Obesity"),
    ("55822004", "E785", "Hyperlipidemia"), ("59282003", "I2699", "Pulmonary embolism"),
]
SMOKING_CODES = {"daily": "449868002", "some_days": "428041000124106", "current": "77176002",
                 "former": "8517006", "never": "266919005"}
# Newer answers of the table: current (cigarette, cigar, pipe smoker), not current (non-smoker).
SMOKING_NEW_CURRENT = ["65568007", "59978006", "82302008"]
SMOKING_NEW_NOT_CURRENT = ["8392000"]
SMOKING_TEXT = {"449868002": "Smokes tobacco daily", "428041000124106": "Occasional tobacco smoker",
                "77176002": "Smoker", "8517006": "Ex-smoker", "266919005": "Never smoked tobacco",
                "65568007": "Cigarette smoker", "59978006": "Cigar smoker",
                "82302008": "Pipe smoker", "8392000": "Non-smoker",
                "266927001": "Unknown if ever smoked"}
# Answers in neither list: (system, code, text); the reader must report them when most recent.
UNMAPPED_SMOKING = [(SNOMED, "266927001", "Unknown if ever smoked"),
                    (LOCAL_CODES, "SMK-NA", "Smoking status not asked")]
# NHANES RIDRETH3 -> US Core race OMB category (code, display): non-Hispanic White, Black,
# Asian; Hispanic (1, 2) and other or multi-racial (7) as "Other Race" (a CDC race code).
RACE_OMB = {3: ("2106-3", "White"), 4: ("2054-5", "Black or African American"),
            6: ("2028-9", "Asian")}
RACE_OTHER = ("2131-1", "Other Race")
HISPANIC_RIDRETH3 = (1, 2)
ETHNICITY_OMB = {True: ("2135-2", "Hispanic or Latino"),
                 False: ("2186-5", "Not Hispanic or Latino")}
# (ATC, RxNorm ingredient, name)
BP_DRUGS = [("C09AA03", "29046", "lisinopril"), ("C08CA01", "17767", "amlodipine"),
            ("C03AA03", "5487", "hydrochlorothiazide"), ("C09CA01", "52175", "losartan"),
            ("C07AB02", "6918", "metoprolol")]
STATIN_DRUGS = [("C10AA05", "83367", "atorvastatin"), ("C10AA01", "36567", "simvastatin"),
                ("C10AA07", "301542", "rosuvastatin")]
# Statin combinations (coded by ATC only: the combination's code is what must count).
STATIN_COMBOS = [("C10BA02", "36567", "ezetimibe and simvastatin"),
                 ("C10BA05", "83367", "atorvastatin and ezetimibe")]
DISTRACTOR_DRUGS = {"metformin": ("A10BA02", "6809"), "ezetimibe": ("C10AX09", "341248"),
                    "aspirin": ("B01AC06", "1191")}

PREVENT_HEADER = ["patient_id", "known_cvd", "age", "sex", "race", "sbp", "bp_tx", "total_c",
                  "hdl_c", "statin", "dm", "smoking", "egfr", "serum_creatinine"]
CVD_LR_HEADER = ["patient_id", "known_cvd", "age", "told_diabetes", "systolic_bp",
                 "current_smoker", "male", "told_high_bp"]
OUTCOMES_HEADER = ["patient_id", "expected", "detail"]
BULK_TYPES = ["Patient", "Condition", "MedicationRequest", "MedicationStatement"]


# ---------------------------------------------------------------------------------------------
# The mapping table


@dataclass(frozen=True)
class Mapping:
    """The parts of r4-map.json the generator writes data for."""

    lookback_years: int
    observation_statuses: list[str]
    icd10_systems: list[str]
    observations: dict[str, dict[str, Any]]  # by column
    smoking: dict[str, Any]
    race: dict[str, Any]
    conditions: dict[str, dict[str, Any]]  # by column
    active_statuses: list[str]
    ignored_verification: list[str]
    without_clinical_status: str
    medication_statuses: list[str]
    medication_request_intents: list[str]
    medications: dict[str, dict[str, Any]]  # by column
    schema1_columns: dict[str, str]

    def loinc(self, column: str) -> list[str]:
        """The LOINC codes of an observation column."""
        return list(self.observations[column]["loinc"])

    def units(self, column: str, factor: float) -> list[str]:
        """The unit spellings of `column` with conversion factor `factor`, in table order."""
        return [u for u, f in self.observations[column]["units"].items() if f == factor]

    def factors(self, column: str) -> list[float]:
        """The distinct factors of `column`, 1.0 (the CSV's unit) first."""
        seen = sorted(set(self.observations[column]["units"].values()), key=lambda f: f != 1.0)
        if seen[0] != 1.0:
            raise ValueError(f"mapping: {column} has no unit with factor 1")
        return seen

    def factor(self, column: str, unit: str) -> float | None:
        """The factor of a unit spelling, None when the table does not know it."""
        value = self.observations[column]["units"].get(unit)
        return None if value is None else float(value)

    def smoking_answer(self, code: str) -> int | None:
        """1 for a current-smoker answer, 0 for a not-current one, None for neither."""
        if code in self.smoking["snomed_current"]:
            return 1
        return 0 if code in self.smoking["snomed_not_current"] else None

    def race_level(self, omb_code: str) -> str:
        """The race level of an OMB category code (any other code: the table's other level)."""
        return str(self.race["levels"].get(omb_code, self.race["other_level"]))

    def condition_matches(self, column: str, system: str, code: str) -> bool:
        """Whether a coding belongs to a condition set (ICD-10, either system of the table:
        with the dots removed and in upper case, the code starts with a listed code: E119,
        e11.9 and E11.9 are below E11, I11.9 is not I11.0)."""
        spec = self.conditions[column]
        if system == SNOMED:
            return code in spec["snomed"]
        if system in self.icd10_systems:
            return any(_undotted(code).startswith(_undotted(p))
                       for p in spec["icd10cm"] if _undotted(p))
        return False

    def condition_counts(self, column: str, resource: Resource, as_of: dt.date) -> bool:
        """Whether a Condition resource counts for a set: a verification status the table does
        not ignore, no onsetDateTime or recordedDate after as-of, an active clinical status
        (none: the table's default) when the set needs one, a coding of the set."""
        def first(element: str) -> str | None:
            codings = resource.get(element, {}).get("coding", [])
            return next((c["code"] for c in codings if "code" in c), None)

        if first("verificationStatus") in self.ignored_verification:
            return False
        if any(dt.date.fromisoformat(resource[key][:10]) > as_of
               for key in ("onsetDateTime", "recordedDate") if key in resource):
            return False
        spec = self.conditions[column]
        clinical = first("clinicalStatus") or self.without_clinical_status
        if spec["counts"] == "active" and clinical not in self.active_statuses:
            return False
        return any(self.condition_matches(column, c["system"], c["code"])
                   for c in resource["code"]["coding"])

    def medication_matches(self, column: str, system: str, code: str) -> bool:
        """Whether a coding belongs to a medication class."""
        spec = self.medications[column]
        if system == ATC:
            return any(code.startswith(p) for p in spec["atc_prefixes"])
        if system == RXNORM:
            return code in spec["rxnorm_ingredients"]
        return False

    def medication_counts(self, column: str, resource: Resource, as_of: dt.date) -> bool:
        """Whether a MedicationRequest / MedicationStatement counts for a class: a counting
        status; for a request an intent absent or an order the table lists, not doNotPerform,
        not authored after as-of; a coding of the class."""
        if resource["status"] not in self.medication_statuses:
            return False
        if resource["resourceType"] == "MedicationRequest":
            intent = resource.get("intent")
            if intent is not None and intent not in self.medication_request_intents:
                return False
            if resource.get("doNotPerform") is True:
                return False
            authored = resource.get("authoredOn")
            if authored is not None and dt.date.fromisoformat(authored[:10]) > as_of:
                return False
        return any(self.medication_matches(column, c["system"], c["code"])
                   for c in resource["medicationCodeableConcept"]["coding"])


def _undotted(code: str) -> str:
    return code.strip().replace(".", "").upper()


def load_mapping(path: Path = MAP_PATH) -> Mapping:
    """Read the mapping table."""
    table = json.loads(path.read_text(encoding="utf-8"))
    if table.get("format") != "pulsecure-fhir-map/1":
        raise ValueError(f"{path}: unknown format {table.get('format')!r}")
    return Mapping(
        lookback_years=int(table["default_lookback_years"]),
        observation_statuses=list(table["observation_statuses"]),
        icd10_systems=list(table["icd10_systems"]),
        observations={o["column"]: o for o in table["observations"]},
        smoking=table["smoking"],
        race=table["race"],
        conditions={c["column"]: c for c in table["conditions"]},
        active_statuses=list(table["condition_active_statuses"]),
        ignored_verification=list(table["condition_ignored_verification"]),
        without_clinical_status=str(table["condition_without_clinical_status"]),
        medication_statuses=list(table["medication_statuses"]),
        medication_request_intents=list(table["medication_request_intents"]),
        medications={m["column"]: m for m in table["medications"]},
        schema1_columns=dict(table["schema1_columns"]),
    )


@dataclass(frozen=True)
class Catalogue:
    """The hand-picked codes, each checked against the table (see `build_catalogue`)."""

    mapping: Mapping
    panel_codes: list[str]
    dm_snomed: list[str]
    htn_snomed: list[str]

    def smoking_code(self, kind: str) -> str:
        """The SNOMED CT code for a smoking kind (daily, some_days, current, former, never)."""
        return SMOKING_CODES[kind]


def _require(ok: bool, message: str) -> None:
    if not ok:
        raise ValueError(f"mapping table disagrees with the generator: {message}")


def who_codes(codes: list[str]) -> list[str]:
    """The codes of a list WHO ICD-10 has too (dotted, or a three-character category)."""
    return [c for c in codes if c not in ICD10CM_ONLY and ("." in c or len(c) == 3)]


def build_catalogue(mapping: Mapping) -> Catalogue:
    """Check every hand-picked code against the table: positive codes must be accepted by
    their set (ICD-10 codes in both systems, in upper and lower case), distractors by none;
    statuses and units the generator relies on must be (or not be) in the table."""
    _require(ICD10CM in mapping.icd10_systems and ICD10_WHO in mapping.icd10_systems,
             "ICD-10-CM and WHO ICD-10 are not both ICD-10 systems")

    def icd_matches(column: str, code: str) -> bool:
        systems = [ICD10CM] + ([ICD10_WHO] if who_codes([code]) else [])
        return all(mapping.condition_matches(column, system, variant)
                   for system in systems for variant in (code, code.lower()))

    for item, codes in CVD_ITEM_CODES.items():
        for code in codes["snomed"]:
            _require(mapping.condition_matches("known_cvd", SNOMED, code), f"{item} {code}")
        for code in codes["icd10cm"]:
            _require(icd_matches("known_cvd", code), f"{item} {code}")
        _require(bool(who_codes(codes["icd10cm"])), f"{item}: no WHO ICD-10 code")
    for item, (system, codes_, _text) in NEW_CVD_CODES.items():
        for code in codes_:
            _require(mapping.condition_matches("known_cvd", SNOMED, code) if system == "snomed"
                     else icd_matches("known_cvd", code), f"{item} {code}")
    _require(mapping.condition_matches("dm", SNOMED, NEW_DM_SNOMED), f"dm {NEW_DM_SNOMED}")
    for code in DM_ICD:
        _require(icd_matches("dm", code), f"dm {code}")
    for code in HTN_ICD:
        _require(icd_matches("hypertension", code), f"htn {code}")
        _require(not mapping.condition_matches("known_cvd", ICD10CM, code), f"{code} is CVD")
    for code in HTN_HF_ICD:
        for column in ("known_cvd", "hypertension"):
            _require(icd_matches(column, code), f"{column} {code}")
    for snomed, icd, _text in DISTRACTOR_CONDITIONS:
        for column in mapping.conditions:
            _require(not mapping.condition_matches(column, SNOMED, snomed), f"{snomed} in {column}")
            for system in mapping.icd10_systems:
                _require(not mapping.condition_matches(column, system, icd), f"{icd} in {column}")
    for column, drugs in (("bp_tx", BP_DRUGS), ("statin", STATIN_DRUGS + STATIN_COMBOS)):
        for atc, rxnorm, name in drugs:
            _require(mapping.medication_matches(column, ATC, atc), f"{column} {name} {atc}")
            _require(mapping.medication_matches(column, RXNORM, rxnorm), f"{column} {name}")
    for atc, _rxnorm, name in STATIN_COMBOS:
        _require(not mapping.medication_matches("bp_tx", ATC, atc), f"{name} in bp_tx")
    for name, (atc, rxnorm) in DISTRACTOR_DRUGS.items():
        for column in mapping.medications:
            _require(not mapping.medication_matches(column, ATC, atc), f"{name} in {column}")
            _require(not mapping.medication_matches(column, RXNORM, rxnorm), f"{name} in {column}")
    for kind in ("daily", "some_days", "current"):
        _require(mapping.smoking_answer(SMOKING_CODES[kind]) == 1, f"smoking {kind}")
    for kind in ("former", "never"):
        _require(mapping.smoking_answer(SMOKING_CODES[kind]) == 0, f"smoking {kind}")
    for code in SMOKING_NEW_CURRENT:
        _require(mapping.smoking_answer(code) == 1, f"smoking {code} is not current")
    for code in SMOKING_NEW_NOT_CURRENT:
        _require(mapping.smoking_answer(code) == 0, f"smoking {code} is current")
    for _system, code, _text in UNMAPPED_SMOKING:
        _require(mapping.smoking_answer(code) is None, f"smoking {code} is mapped")
    race = mapping.race
    _require(race["extension"] == "http://hl7.org/fhir/us/core/StructureDefinition/us-core-race"
             and race["category_url"] == "ombCategory", "race extension")
    for ridreth3, level in ((3, "white"), (4, "black"), (6, "other"), (1, "other")):
        code = RACE_OMB.get(ridreth3, RACE_OTHER)[0]
        _require(mapping.race_level(code) == level == P.race(ridreth3), f"race {code}")
    for column, unit in BAD_UNITS.items():
        _require(mapping.factor(column, unit) is None, f"{unit} is a known unit of {column}")
    for column in NUMERIC_COLUMNS:
        _require(len(mapping.factors(column)) <= 2, f"{column}: more than two factors")
    _require("final" in mapping.observation_statuses, "final is not a counting status")
    _require(not set(NOT_COUNTING_STATUSES) & set(mapping.observation_statuses),
             "a noise status counts")
    _require({"active", "recurrence", "relapse"} >= set(mapping.active_statuses)
             and "active" in mapping.active_statuses, "condition active statuses")
    _require(mapping.without_clinical_status in mapping.active_statuses,
             "a condition without clinicalStatus is not active")
    _require(mapping.medication_statuses == ["active"], "medication statuses")
    _require(bool(mapping.medication_request_intents), "no MedicationRequest intent counts")
    _require("order" in mapping.medication_request_intents, "intent order does not count")
    _require(not set(NOT_ORDER_INTENTS) & set(mapping.medication_request_intents),
             "a proposal or plan counts")
    _require(set(mapping.ignored_verification) <= set(VERIFICATION_STATUSES)
             and bool(mapping.ignored_verification), "ignored verification statuses")
    _require("confirmed" not in mapping.ignored_verification, "confirmed conditions are ignored")
    for column in KIDNEY_COLUMNS:
        _require(column in mapping.observations, f"no {column} observation")
    panel_codes = list(mapping.observations["sbp"].get("component_of", []))
    _require(bool(panel_codes), "sbp has no panel codes")
    dm_snomed = [c for c in mapping.conditions["dm"]["snomed"] if c != NEW_DM_SNOMED]
    return Catalogue(mapping, panel_codes, dm_snomed,
                     list(mapping.conditions["hypertension"]["snomed"]))


# ---------------------------------------------------------------------------------------------
# Source rows


@dataclass(frozen=True)
class Person:
    """One NHANES participant's PREVENT inputs (project definitions) and the raw facts the
    FHIR needs (which CVD items, told high BP, smoking kind, creatinine, RIDRETH3)."""

    key: str  # "<SEQN>", or "<SEQN>-<k>" for the k-th reuse
    seqn: int
    age: int
    sex: str  # male / female
    sbp: float
    bp_tx: int
    total_c: float
    hdl_c: float
    statin: int
    dm: int
    smoking: int
    smoking_kind: str  # daily / some_days / former / never
    scr: float  # mg/dL
    egfr: float  # CKD-EPI 2021
    cvd_items: tuple[str, ...]
    told_high_bp: bool  # BPQ020 == 1
    ridreth3: int  # NHANES race / Hispanic origin
    race: str  # the PCE's race (black / white / other; prevent_cohort.race)

    @property
    def patient_id(self) -> str:
        return f"nh-{self.key}"

    @property
    def known_cvd(self) -> int:
        return int(bool(self.cvd_items))


def held_out_seqns() -> set[int]:
    """SEQN of cvd-lr v3's calibration and test splits (reproduced by importing its split)."""
    from training import train_v3

    cohort, _counts = train_v3.build_cohort()
    _train, rest = train_v3.split(cohort, train_v3.DEFAULT_SEED, 0.4)
    return {int(s) for s in rest["SEQN"]}


def smoking_kind(row: Any) -> str:
    """daily / some_days / former / never from SMQ020 and SMQ040 (consistent with the
    project's smoking input: current = every day or some days)."""
    if P._code(row["SMQ020"]) == P.NO:
        return "never"
    kinds = {1: "daily", 2: "some_days", 3: "former"}
    answer = P._code(row["SMQ040"])
    if answer not in kinds:
        raise ValueError("smoking: SMQ040 is not 1, 2 or 3 for a known smoking input")
    return kinds[answer]


@functools.lru_cache(maxsize=1)
def source_pool() -> tuple[Person, ...]:
    """Every usable participant (see the module docstring), in SEQN order."""
    raw = P.with_race(P.load_extract())
    held = held_out_seqns()
    names = P.input_names()
    people = []
    for _, row in raw.sort_values("SEQN").iterrows():
        seqn = int(row["SEQN"])
        status = P.cvd_status(row)
        if seqn in held or status == P.CVD_UNKNOWN:
            continue
        inputs = P.patient_inputs(row)
        if any(inputs[n] is None for n in names):
            continue
        people.append(Person(
            key=str(seqn), seqn=seqn, age=int(inputs["age"]), sex=str(inputs["sex"]),
            sbp=float(inputs["sbp"]), bp_tx=int(inputs["bp_tx"]),
            total_c=float(inputs["total_c"]), hdl_c=float(inputs["hdl_c"]),
            statin=int(inputs["statin"]), dm=int(inputs["dm"]), smoking=int(inputs["smoking"]),
            smoking_kind=smoking_kind(row), scr=float(row["LBXSCR"]), egfr=float(inputs["egfr"]),
            cvd_items=tuple(c for c in P.CVD_ITEMS if P._code(row[c]) == P.YES),
            told_high_bp=P._code(row["BPQ020"]) == P.YES,
            ridreth3=int(row["RIDRETH3"]), race=str(inputs["race"]),
        ))
    return tuple(people)


def select_people(n: int) -> list[Person]:
    """The first `n` people of the pool, reusing the pool (new keys) when n exceeds it."""
    pool = source_pool()
    people = []
    for i in range(n):
        base, reuse = pool[i % len(pool)], i // len(pool)
        key = base.key if reuse == 0 else f"{base.seqn}-{reuse + 1}"
        people.append(base if reuse == 0 else _with_key(base, key))
    return people


def _with_key(person: Person, key: str) -> Person:
    return dataclasses.replace(person, key=key)


# ---------------------------------------------------------------------------------------------
# Noise plan


@dataclass
class Noise:
    """What one patient's FHIR carries beyond the plain facts."""

    gender: str | None = None  # "other" / "unknown" (not eligible)
    flaw: str | None = None  # column (KIDNEY: the kidney winner) whose most recent observation
    flaw_kind: str | None = None  # ... has an unknown unit ("unit") or a "comparator"
    comparator: str = ">"  # the comparator written (flaw or old_comparator)
    hdl_missing: str | None = None  # "absent" / "old_only"
    kidney_missing: bool = False  # only eGFR / creatinine observations that do not count
    unmapped_smoking: int | None = None  # most recent answer: UNMAPPED_SMOKING[i]
    deceased: str | None = None  # DECEASED ("boolean" / "on" / "before": an error) or
                                 # ALIVE ("after" / "false": a deceased element, alive)
    tc_mmol: bool = False
    hdl_mmol: bool = False
    scr_umol: str | None = None  # the creatinine's µmol/L spelling (coded if the UCUM code)
    egfr_obs: str | None = None  # a 2021 eGFR, to the creatinine: "same" day / "newer" / "older"
    legacy: str | None = None  # a legacy eGFR: "only" (no creatinine), "newer" (than the
                               # others: used), "same" (day as the winner), "older",
                               # "older_bad_unit"
    sbp_panel: bool = False
    out_of_window: str | None = None  # column (KIDNEY for the kidney winner)
    older_in_window: str | None = None
    invalid_newer: str | None = None
    invalid_status: str = "entered-in-error"
    old_bad_unit: str | None = None
    old_comparator: str | None = None
    old_unmapped_smoking: bool = False
    smoking_code: str | None = None  # the answer (a newer code of the table), else by kind
    unit_text_only: str | None = None  # column whose main quantity has no `code`
    local_coding: str | None = None  # column whose main observation has a local coding first
    resolved_dm: bool = False
    mi_resolved: bool = False
    htn_resolved: bool = False
    htn_hf: bool = False  # heart failure coded as hypertensive heart disease with HF
    refuted: str | None = None  # the ignored verification status of a condition
    new_codes: bool = False  # the table's newer condition codes (NEW_CVD_CODES, NEW_DM_SNOMED)
    icd_lowercase: bool = False  # ICD-10 codes in lower case
    icd10_who: bool = False  # ICD-10 codes in the WHO system (http://hl7.org/fhir/sid/icd-10)
    no_clinical_status: bool = False  # active-meaning conditions without clinicalStatus
    condition_future: str | None = None  # "onset" / "recorded_after_onset" / "recorded"
    stopped_med: bool = False
    statin_combo: bool = False
    not_ordered: str | None = None  # intent of an active request that is not an order
    med_future: bool = False  # an order authored after as-of
    do_not_perform: bool = False  # an order with doNotPerform true
    distractor: bool = False
    race_absent: bool = False
    condition_system: str | None = None  # force "snomed" / "icd10" / "both" for conditions
    med_style: dict[str, tuple[str, str]] = field(default_factory=dict)  # kind -> (type, system)


DECEASED = ("boolean", "on", "before")
ALIVE = ("after", "false")


def _quota(share: float, pool: int) -> int:
    return 0 if pool == 0 else min(pool, max(1, round(share * pool)))


def _pick(rng: random.Random, people: list[Person], share: float,
          keep: Callable[[Person], bool] = lambda _p: True) -> list[Person]:
    """A seeded sample of `share` of the people that `keep` accepts, in input order."""
    pool = [p for p in people if keep(p)]
    chosen = {p.key for p in rng.sample(pool, _quota(share, len(pool)))}
    return [p for p in pool if p.key in chosen]


def _column_for(i: int, columns: list[str], forbidden: Iterable[str]) -> str:
    """The i-th column of a cycle over `columns`, skipping forbidden ones."""
    allowed = [c for c in columns if c not in set(forbidden)]
    return allowed[i % len(allowed)]


EXCLUSIVE_KINDS = ("gender_other", "bad_unit", "hdl_missing", "kidney_missing", "comparator",
                   "unmapped_smoking", "deceased")
# The flawed observations, in turn: (column, kidney plan). The kidney winner: a creatinine
# newer than a 2021 eGFR, a 2021 eGFR newer than a creatinine or of the same day, a legacy eGFR
# newer than a creatinine.
BAD_UNIT_CYCLE: list[tuple[str, dict[str, str]]] = [
    ("total_c", {}), (KIDNEY, {"egfr_obs": "older"}), (KIDNEY, {"egfr_obs": "newer"}),
    (KIDNEY, {"legacy": "newer"})]
COMPARATOR_CYCLE: list[tuple[str, dict[str, str]]] = [
    (KIDNEY, {"egfr_obs": "same"}), ("hdl_c", {}), (KIDNEY, {"egfr_obs": "older"}),
    ("total_c", {}), (KIDNEY, {"egfr_obs": "newer"})]


def plan_noise(people: list[Person], seed: int, mapping: Mapping) -> dict[str, Noise]:
    """Assign every noise of `SHARES` by quota (deterministic from the seed): the kinds that
    decide the outcome (`EXCLUSIVE_KINDS`) to disjoint patients, at least one each, the others
    independently. With N >= 20 every outcome kind is present (see `check_outcome_kinds`)."""
    plan = {p.key: Noise() for p in people}

    def rng(kind: str) -> random.Random:
        return random.Random(f"{seed}/noise/{kind}")

    order = list(people)
    rng("exclusive").shuffle(order)
    start = 0
    for kind in EXCLUSIVE_KINDS:
        count = _quota(SHARES[kind], len(people))
        for i, p in enumerate(sorted(order[start:start + count], key=lambda q: q.seqn)):
            noise = plan[p.key]
            if kind == "gender_other":
                noise.gender = ("other", "unknown")[i % 2]
            elif kind in ("bad_unit", "comparator"):
                flaws = BAD_UNIT_CYCLE if kind == "bad_unit" else COMPARATOR_CYCLE
                noise.flaw, kidney = flaws[i % len(flaws)]
                noise.flaw_kind = "unit" if kind == "bad_unit" else "comparator"
                noise.comparator = COMPARATORS[i % len(COMPARATORS)]
                for name, value in kidney.items():
                    setattr(noise, name, value)
            elif kind == "hdl_missing":
                noise.hdl_missing = ("absent", "old_only")[i % 2]
            elif kind == "kidney_missing":
                noise.kidney_missing = True
            elif kind == "unmapped_smoking":
                noise.unmapped_smoking = i % len(UNMAPPED_SMOKING)
            else:
                noise.deceased = DECEASED[i % len(DECEASED)]
        start += count

    def has_hdl(p: Person) -> bool:
        return plan[p.key].hdl_missing is None

    def has_kidney(p: Person) -> bool:
        return not plan[p.key].kidney_missing

    def kidney_free(p: Person) -> bool:  # kidney function not fixed by a deciding noise
        return has_kidney(p) and plan[p.key].flaw != KIDNEY

    def plain(p: Person) -> bool:  # no outcome-deciding noise: the patient is a CSV row
        n = plan[p.key]
        return not (n.gender or n.flaw or n.hdl_missing or n.kidney_missing
                    or n.unmapped_smoking is not None or n.deceased)

    for i, p in enumerate(_pick(rng("egfr_obs"), people, SHARES["egfr_obs"], kidney_free)):
        plan[p.key].egfr_obs = ("same", "newer", "older", "same")[i % 4]
    for kind, keep, cycle in (
            ("legacy_only", lambda p: plain(p) and not plan[p.key].egfr_obs, ("only",)),
            ("legacy_with_scr", lambda p: (kidney_free(p) and not plan[p.key].egfr_obs
                                           and plan[p.key].legacy is None),
             ("older", "newer", "same", "older_bad_unit")),
            ("legacy_with_2021", lambda p: kidney_free(p) and bool(plan[p.key].egfr_obs),
             ("older", "newer", "same"))):
        for i, p in enumerate(_pick(rng(kind), people, SHARES[kind], keep)):
            plan[p.key].legacy = cycle[i % len(cycle)]
    umol = mapping.units(SCR, mapping.factors(SCR)[1])
    for i, p in enumerate(_pick(rng("scr_umol"), people, SHARES["scr_umol"],
                                lambda p: has_kidney(p) and plan[p.key].legacy != "only")):
        plan[p.key].scr_umol = umol[i % len(umol)]
    for kind in ("tc_mmol", "hdl_mmol", "sbp_panel"):
        keep = has_hdl if kind == "hdl_mmol" else (lambda _p: True)
        for p in _pick(rng(kind), people, SHARES[kind], keep):
            setattr(plan[p.key], kind, True)

    columns = ["sbp", "total_c", "hdl_c", KIDNEY, "smoking"]
    labs = ["total_c", "hdl_c", KIDNEY]
    for kind, choices in (("out_of_window", columns), ("older_in_window", columns),
                          ("invalid_newer", columns),
                          ("old_bad_unit", labs), ("old_comparator", labs),
                          ("unit_text_only", ["sbp"] + labs), ("local_coding", ["sbp"] + labs)):
        for i, p in enumerate(_pick(rng(kind), people, SHARES[kind])):
            noise = plan[p.key]
            forbidden = []
            if noise.hdl_missing:
                forbidden.append("hdl_c")
            if noise.kidney_missing:
                forbidden.append(KIDNEY)
            if noise.flaw:
                forbidden.append(noise.flaw)
            setattr(noise, kind, _column_for(i, choices, forbidden))
            if kind == "invalid_newer":
                noise.invalid_status = NOT_COUNTING_STATUSES[i % len(NOT_COUNTING_STATUSES)]
            if kind == "old_comparator" and not noise.flaw:
                noise.comparator = COMPARATORS[i % len(COMPARATORS)]

    def mapped(p: Person) -> bool:  # the most recent smoking answer is a mapped one
        return plan[p.key].unmapped_smoking is None

    for p in _pick(rng("old_unmapped_smoking"), people, SHARES["old_unmapped_smoking"], mapped):
        plan[p.key].old_unmapped_smoking = True
    for kind, smoking, codes in (("smoking_new_current", 1, SMOKING_NEW_CURRENT),
                                 ("smoking_new_not_current", 0, SMOKING_NEW_NOT_CURRENT)):
        def answers(p: Person, smoking: int = smoking) -> bool:
            return p.smoking == smoking and mapped(p)

        for i, p in enumerate(_pick(rng(kind), people, SHARES[kind], answers)):
            plan[p.key].smoking_code = codes[i % len(codes)]

    for p in _pick(rng("resolved_dm"), people, SHARES["resolved_dm"], lambda p: p.dm == 0):
        plan[p.key].resolved_dm = True
    for p in _pick(rng("mi_resolved"), people, SHARES["mi_resolved"],
                   lambda p: MI_ITEM in p.cvd_items):
        plan[p.key].mi_resolved = True
    for p in _pick(rng("htn_resolved"), people, SHARES["htn_resolved"],
                   lambda p: p.told_high_bp and p.bp_tx == 1):
        plan[p.key].htn_resolved = True
    for p in _pick(rng("htn_heart_failure"), people, SHARES["htn_heart_failure"],
                   lambda p: HF_ITEM in p.cvd_items and p.told_high_bp):
        plan[p.key].htn_hf = True
    for i, p in enumerate(_pick(rng("refuted"), people, SHARES["refuted"])):
        plan[p.key].refuted = mapping.ignored_verification[i % len(mapping.ignored_verification)]
    for p in _pick(rng("new_condition_codes"), people, SHARES["new_condition_codes"],
                   lambda p: bool(p.dm or set(p.cvd_items) & set(NEW_CVD_CODES))):
        plan[p.key].new_codes = True

    def with_condition(p: Person) -> bool:
        return bool(p.dm or p.told_high_bp or p.known_cvd) and not plan[p.key].new_codes

    for kind in ("icd_lowercase", "icd10_who"):
        for p in _pick(rng(kind), people, SHARES[kind], with_condition):
            setattr(plan[p.key], kind, True)
            plan[p.key].condition_system = "icd10"
    for p in _pick(rng("no_clinical_status"), people, SHARES["no_clinical_status"],
                   lambda p: bool(p.dm or p.told_high_bp or p.known_cvd)):
        plan[p.key].no_clinical_status = True
    for i, p in enumerate(_pick(rng("condition_future"), people, SHARES["condition_future"],
                                lambda p: not (p.dm and p.known_cvd and p.told_high_bp))):
        plan[p.key].condition_future = ("onset", "recorded_after_onset", "recorded")[i % 3]
    for p in _pick(rng("statin_combo"), people, SHARES["statin_combo"], lambda p: p.statin == 1):
        plan[p.key].statin_combo = True
    for i, p in enumerate(_pick(rng("not_ordered"), people, SHARES["not_ordered"])):
        plan[p.key].not_ordered = NOT_ORDER_INTENTS[i % len(NOT_ORDER_INTENTS)]
    for kind in ("med_future", "do_not_perform"):
        for p in _pick(rng(kind), people, SHARES[kind], lambda p: not (p.bp_tx and p.statin)):
            setattr(plan[p.key], kind, True)
    for kind in ("stopped_med", "distractor", "race_absent"):
        for p in _pick(rng(kind), people, SHARES[kind]):
            setattr(plan[p.key], kind, True)
    for i, p in enumerate(_pick(rng("alive_deceased_element"), people,
                                SHARES["alive_deceased_element"],
                                lambda p: plan[p.key].deceased is None)):
        plan[p.key].deceased = ALIVE[i % len(ALIVE)]
    return plan


# ---------------------------------------------------------------------------------------------
# Building one patient's resources


@dataclass
class PatientRecord:
    """One patient's resources and what a correct reader must make of them."""

    person: Person
    resources: list[Resource]
    outcome: str  # row / not_eligible_sex / error
    detail: str
    values: dict[str, float | int | str | None]  # the reader's values by column


def _number(value: float) -> float | int:
    """A JSON number: an integral float as an int."""
    return int(value) if float(value).is_integer() else value


def format_number(value: float | int) -> str:
    """A CSV number: integers as integers, other floats at repr precision."""
    if isinstance(value, int) or float(value).is_integer():
        return str(int(value))
    return repr(float(value))


def completed_years(birth: dt.date, on: dt.date) -> int:
    """Completed years of age on `on`."""
    return on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))


def birth_date(age: int, as_of: dt.date, rng: random.Random) -> dt.date:
    """A birth date (never 29 February) whose completed age at `as_of` is `age`."""
    day = dt.date(2001, 1, 1) + dt.timedelta(days=rng.randrange(365))  # 2001: no 29 February
    year = as_of.year - age - ((as_of.month, as_of.day) < (day.month, day.day))
    born = dt.date(year, day.month, day.day)
    assert completed_years(born, as_of) == age
    return born


def years_before(day: dt.date, years: int) -> dt.date:
    """`day` minus whole years (29 February -> 28 February)."""
    try:
        return day.replace(year=day.year - years)
    except ValueError:
        return day.replace(year=day.year - years, day=28)


def kidney_plan(noise: Noise) -> dict[str, str]:
    """The kidney observations a patient gets: kind -> "win" (the one the reader uses, on the
    lab day), "same" (the same day, a kind the reader ranks lower), "older" or "older_bad_unit"
    (an earlier day in the window); empty when none counts (`kidney_missing`)."""
    if noise.kidney_missing:
        return {}
    if noise.legacy == "only":
        return {EGFR_LEGACY: "win"}
    plan: dict[str, str]
    if noise.legacy == "newer":
        plan = {EGFR_LEGACY: "win", SCR: "older"}
        if noise.egfr_obs:
            plan[EGFR] = "older"
        return plan
    if noise.egfr_obs in ("same", "newer"):
        plan = {EGFR: "win", SCR: "same" if noise.egfr_obs == "same" else "older"}
    else:
        plan = {SCR: "win"}
        if noise.egfr_obs == "older":
            plan[EGFR] = "older"
    if noise.legacy is not None:
        plan[EGFR_LEGACY] = noise.legacy
    winner = next(k for k, r in plan.items() if r == "win")
    assert all(r != "same" or KIDNEY_RANK[k] < KIDNEY_RANK[winner] for k, r in plan.items())
    return plan


def with_comparator(quantity: Resource, comparator: str) -> Resource:
    """The quantity with a comparator (after its value, as FHIR orders the elements)."""
    return {"value": quantity["value"], "comparator": comparator,
            **{k: v for k, v in quantity.items() if k != "value"}}


class PatientBuilder:
    """Writes one person's FHIR resources and records what a reader must extract. Every
    random choice comes from the patient's own generator (seed and key), in a fixed order."""

    def __init__(self, person: Person, noise: Noise, catalogue: Catalogue, as_of: dt.date,
                 seed: int) -> None:
        self.person, self.noise, self.cat, self.map = person, noise, catalogue, catalogue.mapping
        self.as_of = as_of
        self.window_start = years_before(as_of, self.map.lookback_years)
        self.rng = random.Random(f"{seed}/patient/{person.key}")
        self.resources: list[Resource] = []
        self.counters: dict[str, int] = {}
        self.values: dict[str, float | int | str | None] = {}
        self.errors: list[str] = []
        self.subject = {"reference": f"Patient/{person.patient_id}"}
        self.kidney_plan = kidney_plan(noise)
        self.kidney_winner = next((k for k, r in self.kidney_plan.items() if r == "win"), None)

    # -- helpers -------------------------------------------------------------------------

    def _id(self, prefix: str) -> str:
        self.counters[prefix] = self.counters.get(prefix, 0) + 1
        return f"{prefix}-{self.person.key}-{self.counters[prefix]}"

    def _timestamp(self, day: dt.date) -> str:
        hour, minute = self.rng.randint(7, 17), self.rng.choice((0, 15, 30, 45))
        zone = self.rng.choice(("Z", "Z", "-05:00", "+01:00", "-04:00", "+02:00"))
        return f"{day.isoformat()}T{hour:02d}:{minute:02d}:00{zone}"

    def _recent_day(self) -> dt.date:
        """A day well inside the window (10 to 400 days before as-of)."""
        return self.as_of - dt.timedelta(days=self.rng.randint(10, 400))

    def _out_of_window_day(self) -> dt.date:
        """A day at least 30 days before the window opens."""
        return self.window_start - dt.timedelta(days=self.rng.randint(30, 900))

    def _shifted(self, stamp: str, days: int) -> str:
        day = dt.date.fromisoformat(stamp[:10]) + dt.timedelta(days=days)
        return day.isoformat() + stamp[10:]

    def _other_value(self, column: str, value: float) -> float:
        """A clearly different, plausible value of the same column."""
        steps = {"sbp": (8, 20, 0), "total_c": (15, 45, 0), "hdl_c": (5, 15, 0),
                 "serum_creatinine": (0.1, 0.3, 2), "egfr": (5, 15, 1),
                 "egfr_legacy": (5, 15, 0)}
        lo, hi, digits = steps[column]
        if digits:
            delta: float = round(self.rng.uniform(lo, hi), digits)
        else:
            delta = self.rng.randint(int(lo), int(hi))
        other = value + delta if value - delta <= hi else value - delta
        return round(other, digits) if digits else other

    def _quantity(self, column: str, value: float, alt_unit: bool = False,
                  bad_unit: bool = False, text_only: bool = False,
                  spelling: str | None = None) -> tuple[Resource, float | None]:
        """A valueQuantity holding `value` (in the CSV's unit) and the value a reader
        extracts from it (value x the table's factor; None for an unknown unit). `spelling`:
        this unit (of the alternative factor) as the code if it is the UCUM one, else as text."""
        if bad_unit:
            unit = BAD_UNITS[column]
            return {"value": _number(value), "unit": unit, "system": UCUM, "code": unit}, None
        factors = self.map.factors(column)
        factor = factors[1] if alt_unit and len(factors) > 1 else factors[0]
        spellings = self.map.units(column, factor)
        written = value if factor == 1.0 else value / factor
        quantity: Resource = {"value": _number(written)}
        if spelling is not None and spelling not in spellings:
            raise ValueError(f"{spelling} is not a unit of {column} with factor {factor}")
        if spelling is not None and spelling != spellings[0]:
            unit = spelling  # not a UCUM code: the unit text only
            quantity["unit"] = unit
        elif text_only:
            unit = self.rng.choice(spellings)
            quantity["unit"] = unit
        else:
            unit = spellings[0]  # the table lists the UCUM code first
            quantity.update(unit=self.rng.choice(spellings), system=UCUM, code=unit)
        factor_read = self.map.factor(column, unit)
        assert factor_read is not None
        return quantity, float(quantity["value"]) * factor_read

    def _concept(self, system: str, code: str, display: str | None = None) -> Resource:
        coding: Resource = {"system": system, "code": code}
        if display:
            coding["display"] = display
        return coding

    def _observation(self, category: str, coding: list[Resource], text: str, stamp: str,
                     status: str, value: Resource) -> Resource:
        resource: Resource = {
            "resourceType": "Observation", "id": self._id("obs"), "status": status,
            "category": [{"coding": [{"system": OBS_CATEGORY, "code": category}]}],
            "code": {"coding": coding, "text": text},
            "subject": self.subject, "effectiveDateTime": stamp,
        }
        resource.update(value)
        self.resources.append(resource)
        return resource

    def _counting_status(self) -> str:
        return self.rng.choices(self.map.observation_statuses,
                                weights=[8] + [1] * (len(self.map.observation_statuses) - 1))[0]

    # -- patient ---------------------------------------------------------------------------

    def patient(self) -> None:
        """The Patient resource: the US Core race (and ethnicity) extension from RIDRETH3
        unless `race_absent`, gender, birthDate making the NHANES age at as-of, and the
        deceased element the noise asks for."""
        p, noise, race = self.person, self.noise, self.map.race
        resource: Resource = {"resourceType": "Patient", "id": p.patient_id}
        if noise.race_absent:
            self.values["race"] = None
        else:
            code, display = RACE_OMB.get(p.ridreth3, RACE_OTHER)
            ethnicity, ethnicity_text = ETHNICITY_OMB[p.ridreth3 in HISPANIC_RIDRETH3]
            resource["extension"] = [
                {"url": race["extension"], "extension": [
                    {"url": race["category_url"],
                     "valueCoding": self._concept(CDC_RACE_ETHNICITY, code, display)},
                    {"url": "text", "valueString": display}]},
                {"url": US_CORE_ETHNICITY, "extension": [
                    {"url": "ombCategory",
                     "valueCoding": self._concept(CDC_RACE_ETHNICITY, ethnicity, ethnicity_text)},
                    {"url": "text", "valueString": ethnicity_text}]},
            ]
            self.values["race"] = self.map.race_level(code)
            assert self.values["race"] == p.race, p.key
        resource.update({
            "identifier": [{"system": NHANES_SEQN, "value": str(p.seqn)}],
            "gender": noise.gender or p.sex,
            "birthDate": birth_date(p.age, self.as_of, self.rng).isoformat(),
        })
        if noise.deceased in ("boolean", "false"):
            resource["deceasedBoolean"] = noise.deceased == "boolean"
        elif noise.deceased is not None:
            days = {"before": -self.rng.randint(1, 300), "on": 0,
                    "after": self.rng.randint(1, 300)}[noise.deceased]
            resource["deceasedDateTime"] = self._timestamp(self.as_of + dt.timedelta(days=days))
        if noise.deceased in DECEASED:
            self.errors.append("deceased")
        self.resources.append(resource)

    # -- observations ----------------------------------------------------------------------

    def numeric(self, column: str, value: float, day: dt.date, code: str | None = None) -> None:
        """The observations of one numeric column: the counting one a reader must use (or, for
        a flaw, must report), and the noise this patient carries for the column (ignored
        ones). `code`: the LOINC code of the main observation (default: one of the column's,
        at random). Of the kidney kinds only the winner is written here (see `kidney`)."""
        noise, spec = self.noise, self.map.observations[column]
        target = KIDNEY if column in KIDNEY_COLUMNS else column
        codes = self.map.loinc(column)
        code = code or self.rng.choice(codes)
        alt = {"total_c": noise.tc_mmol, "hdl_c": noise.hdl_mmol,
               SCR: noise.scr_umol is not None}.get(column, False)
        spelling = noise.scr_umol if column == SCR else None
        panel = column == "sbp" and noise.sbp_panel

        def write(stamp: str, status: str, quantity: Resource, as_panel: bool,
                  local: bool = False, loinc: str = code) -> None:
            if as_panel:
                panel_code = self.rng.choice(self.cat.panel_codes)
                diastolic = round(float(quantity["value"]) * self.rng.uniform(0.55, 0.68))
                value: Resource = {"component": [
                    {"code": {"coding": [self._concept(LOINC, loinc, spec["name"])]},
                     "valueQuantity": quantity},
                    {"code": {"coding": [self._concept(LOINC, DIASTOLIC_LOINC,
                                                       "Diastolic blood pressure")]},
                     "valueQuantity": {**quantity, "value": diastolic}},
                ]}
                coding = [self._concept(LOINC, panel_code, PANEL_DISPLAY.get(panel_code))]
                self._observation("vital-signs", coding, "Blood pressure", stamp, status, value)
                return
            coding = [self._concept(LOINC, loinc, spec["name"])]
            if local:
                coding.insert(0, self._concept(LOCAL_CODES, f"LAB-{column.upper()}"))
            category = "vital-signs" if column == "sbp" else "laboratory"
            self._observation(category, coding, spec["name"], stamp, status,
                              {"valueQuantity": quantity})

        main_stamp = self._timestamp(day)
        if column == "hdl_c" and noise.hdl_missing:
            if noise.hdl_missing == "old_only":
                quantity, _ = self._quantity(column, value, alt)
                write(self._timestamp(self._out_of_window_day()), "final", quantity, False)
            self.errors.append(f"missing:{self._loinc_name(column)}")
            return
        flaw = noise.flaw_kind if noise.flaw == target else None
        read: float | None
        if flaw == "unit":
            quantity, read = self._quantity(column, value, bad_unit=True)
            self.errors.append(f"unknown_unit:{code}:{BAD_UNITS[column]}")
        elif flaw == "comparator":
            quantity, _ = self._quantity(column, COMPARATOR_BOUNDS[column], alt, spelling=spelling)
            quantity, read = with_comparator(quantity, noise.comparator), None
            self.errors.append(f"comparator:{code}")
        else:
            quantity, read = self._quantity(column, value, alt,
                                            text_only=noise.unit_text_only == target,
                                            spelling=spelling)
        write(main_stamp, self._counting_status(), quantity, panel,
              local=noise.local_coding == target)
        if read is not None:
            self.values[EGFR if column == EGFR_LEGACY else column] = read
        elif target != KIDNEY:
            # an older valid value: the most recent observation decides all the same (for
            # kidney function the plan's older kinds play this part)
            quantity, _ = self._quantity(column, self._other_value(column, value), alt)
            write(self._shifted(main_stamp, -self.rng.randint(20, 200)), "final", quantity,
                  False)
        other_form = column == "sbp" and not panel  # noise SBP in the other form
        # For kidney function half of these ignored observations are of another kind, which
        # would win if it counted: one outside the window or not counting must not.
        decoy = target == KIDNEY
        if noise.out_of_window == target:
            stamp = self._timestamp(self._out_of_window_day())
            if decoy and self.rng.random() < 0.5:
                self._kidney_decoy(column, stamp, "final")
            else:
                quantity, _ = self._quantity(column, self._other_value(column, value), alt)
                write(stamp, "final", quantity, other_form, loinc=self.rng.choice(codes))
        if noise.older_in_window == target:
            quantity, _ = self._quantity(column, self._other_value(column, value),
                                         alt_unit=self.rng.random() < 0.5)
            write(self._shifted(main_stamp, -self.rng.randint(20, 200)), "final", quantity,
                  other_form, loinc=self.rng.choice(codes))
        if noise.invalid_newer == target:
            stamp = self._shifted(main_stamp, self.rng.randint(1, 9))
            if decoy and self.rng.random() < 0.5:
                self._kidney_decoy(column, stamp, noise.invalid_status)
            else:
                quantity, _ = self._quantity(column, self._other_value(column, value))
                write(stamp, noise.invalid_status, quantity, other_form,
                      loinc=self.rng.choice(codes))
        if noise.old_bad_unit == target:
            quantity, _ = self._quantity(column, value, bad_unit=True)
            write(self._shifted(main_stamp, -self.rng.randint(20, 200)), "final", quantity,
                  False)
        if noise.old_comparator == target:
            # for kidney function an older CKD-EPI 2021 eGFR ">90" (of the winner's kind or not)
            kind = EGFR if decoy else column
            quantity, _ = self._quantity(kind, COMPARATOR_BOUNDS[kind])
            stamp = self._shifted(main_stamp, -self.rng.randint(20, 200))
            if kind == column:
                write(stamp, "final", with_comparator(quantity, noise.comparator), False)
            else:
                self._lab(kind, stamp, "final", with_comparator(quantity, noise.comparator))

    def _loinc_name(self, column: str) -> str:
        """How the reader names a missing column's LOINC codes (target.rs `describe`)."""
        return "/".join(self.map.loinc(column))

    def _lab(self, column: str, stamp: str, status: str, quantity: Resource,
             loinc: str | None = None) -> None:
        """One laboratory observation of `column` (LOINC: the given one, else at random)."""
        spec = self.map.observations[column]
        coding = [self._concept(LOINC, loinc or self.rng.choice(spec["loinc"]), spec["name"])]
        self._observation("laboratory", coding, spec["name"], stamp, status,
                          {"valueQuantity": quantity})

    def _kidney_observation(self, column: str, stamp: str, status: str,
                            bad_unit: bool = False, same: bool = False) -> None:
        """One eGFR (2021 or legacy) or creatinine observation the reader must not use: the
        person's value on the winner's day (`same`), else clearly changed."""
        loinc = self.rng.choice(self.map.loinc(column))
        value = {EGFR: self.person.egfr, SCR: self.person.scr,
                 EGFR_LEGACY: self._legacy_egfr(loinc)}[column]
        if not same:
            value = self._other_value(column, value)
        spelling = self.noise.scr_umol if column == SCR else None
        quantity, _ = self._quantity(column, value, alt_unit=spelling is not None,
                                     bad_unit=bad_unit, spelling=spelling)
        self._lab(column, stamp, status, quantity, loinc)

    def _kidney_decoy(self, used: str, stamp: str, status: str) -> None:
        """An observation of another kidney kind, which would beat `used` if it counted
        (outside the window, or a status that does not count)."""
        others = [k for k in KIDNEY_COLUMNS if k != used]
        self._kidney_observation(self.rng.choice(others), stamp, status)

    def _legacy_egfr(self, loinc: str) -> float:
        """The person's eGFR by the older formula a legacy LOINC code names (MDRD 33914-3, else
        CKD-EPI 2009; without the race coefficients), rounded as labs report it."""
        p, female = self.person, self.person.sex == "female"
        if loinc == "33914-3":
            value = 175 * p.scr ** -1.154 * p.age ** -0.203 * (0.742 if female else 1.0)
        else:
            kappa, alpha = (0.7, -0.329) if female else (0.9, -0.411)
            ratio = p.scr / kappa
            value = (141 * min(ratio, 1.0) ** alpha * max(ratio, 1.0) ** -1.209
                     * 0.993 ** p.age * (1.018 if female else 1.0))
        return float(round(value))

    def kidney(self, day: dt.date) -> None:
        """Kidney function as `kidney_plan` says: the winner on `day` (through `numeric`, with
        the patient's noise), the other kinds the same day or earlier."""
        p, noise = self.person, self.noise
        if noise.kidney_missing:
            # Only observations that do not count: the reader must name both alternatives.
            self._kidney_observation(SCR, self._timestamp(self._out_of_window_day()), "final")
            kind = self.rng.choice(KIDNEY_COLUMNS)
            self._kidney_observation(kind, self._timestamp(self._recent_day()),
                                     self.rng.choice(NOT_COUNTING_STATUSES))
            self.errors.append(f"missing:{self._loinc_name(EGFR)}|{self._loinc_name(SCR)}")
            return
        winner = self.kidney_winner
        assert winner is not None
        if winner == EGFR_LEGACY:
            code = self.rng.choice(self.map.loinc(EGFR_LEGACY))
            self.numeric(EGFR_LEGACY, self._legacy_egfr(code), day, code=code)
        else:
            self.numeric(winner, p.egfr if winner == EGFR else p.scr, day)
        for kind in KIDNEY_COLUMNS:
            relation = self.kidney_plan.get(kind)
            if relation is None or relation == "win":
                continue
            when = day if relation == "same" else day - dt.timedelta(
                days=self.rng.randint(30, 250))
            self._kidney_observation(kind, self._timestamp(when), self._counting_status(),
                                     bad_unit=relation == "older_bad_unit",
                                     same=relation == "same")

    def smoking(self) -> None:
        """The smoking-status observations (current -> 1, not current -> 0; the most recent
        answer in neither list is the patient's error, whatever an older one says)."""
        p, noise, spec = self.person, self.noise, self.map.smoking
        kind = p.smoking_kind
        if kind in ("daily", "some_days") and self.rng.random() < 0.2:
            kind = "current"  # the generic "Smoker" code
        answer = noise.smoking_code or self.cat.smoking_code(kind)
        stamp = self._timestamp(self._recent_day())

        def write(code: str, when: str, status: str, system: str = SNOMED) -> None:
            text = SMOKING_TEXT.get(code) or next(t for _s, c, t in UNMAPPED_SMOKING if c == code)
            value = {"valueCodeableConcept": {"coding": [self._concept(system, code, text)],
                                              "text": text}}
            self._observation("social-history", [self._concept(LOINC, spec["loinc"], spec["name"])],
                              spec["name"], when, status, value)

        if noise.unmapped_smoking is not None:
            system, code, _text = UNMAPPED_SMOKING[noise.unmapped_smoking]
            write(code, stamp, self._counting_status(), system)
            write(answer, self._shifted(stamp, -self.rng.randint(20, 200)), "final")
            self.errors.append(f"unmapped_answer:{spec['loinc']}")
        else:
            write(answer, stamp, self._counting_status())
            self.values["smoking"] = self.map.smoking_answer(answer)
            assert self.values["smoking"] == p.smoking, p.key
        other = "former" if p.smoking else "daily"
        if noise.out_of_window == "smoking":
            write(SMOKING_CODES[other], self._timestamp(self._out_of_window_day()), "final")
        if noise.older_in_window == "smoking":
            write(SMOKING_CODES[other], self._shifted(stamp, -self.rng.randint(20, 200)), "final")
        if noise.invalid_newer == "smoking":
            write(SMOKING_CODES[other], self._shifted(stamp, self.rng.randint(1, 9)),
                  noise.invalid_status)
        if noise.old_unmapped_smoking:
            system, code, _text = UNMAPPED_SMOKING[0]
            write(code, self._shifted(stamp, -self.rng.randint(20, 200)), "final", system)

    def observations(self) -> None:
        """Every observation: SBP, lipids, kidney function, smoking."""
        p = self.person
        self.numeric("sbp", p.sbp, self._recent_day())
        lab_day = self._recent_day()
        self.numeric("total_c", p.total_c, lab_day)
        self.numeric("hdl_c", p.hdl_c, lab_day)
        self.kidney(lab_day)
        self.smoking()

    # -- conditions ------------------------------------------------------------------------

    def condition(self, snomed: list[str], icd: list[str], text: str, clinical: str | None,
                  verification: str | None, system: str | None = None,
                  onset: dt.date | None = None, recorded: dt.date | None = None,
                  dated: bool = True) -> None:
        """One Condition coded in SNOMED CT, ICD-10 or both (`system`, else the noise's, else
        at random); ICD-10 in the WHO system and in lower case if the noise says so. Dated
        (unless not `dated`) by `onset`, else a random past onset, and by `recorded` if given
        (else, for three in ten, a recordedDate after the onset, before as-of). Without
        clinicalStatus it is an encounter diagnosis."""
        noise = self.noise
        system = system or noise.condition_system or self.rng.choices(
            ["snomed", "icd10", "both"], weights=[45, 40, 15])[0]
        if noise.icd10_who:
            icd = who_codes(icd)
        coding = []
        if system in ("snomed", "both") and snomed:
            coding.append(self._concept(SNOMED, self.rng.choice(snomed)))
        if system in ("icd10", "both") or not coding:
            code = self.rng.choice(icd)
            coding.append(self._concept(ICD10_WHO if noise.icd10_who else ICD10CM,
                                        code.lower() if noise.icd_lowercase else code))
        if dated and onset is None:
            onset = self.as_of - dt.timedelta(days=self.rng.randint(200, 6000))
            if recorded is None and self.rng.random() < 0.3:
                recorded = min(onset + dt.timedelta(days=self.rng.randint(0, 90)),
                               self.as_of - dt.timedelta(days=1))
        resource: Resource = {"resourceType": "Condition", "id": self._id("cond")}
        if clinical is not None:
            resource["clinicalStatus"] = {"coding": [{"system": COND_CLINICAL, "code": clinical}]}
        if verification is not None:
            resource["verificationStatus"] = {
                "coding": [{"system": COND_VERIFICATION, "code": verification}]}
        category = ("encounter-diagnosis" if clinical is None and verification != "entered-in-error"
                    else "problem-list-item")
        resource.update({
            "category": [{"coding": [{"system": COND_CATEGORY, "code": category}]}],
            "code": {"coding": coding, "text": text}, "subject": self.subject,
        })
        if dated and onset is not None:
            resource["onsetDateTime"] = onset.isoformat()
        if recorded is not None:
            resource["recordedDate"] = recorded.isoformat()
        self.resources.append(resource)

    def _verification(self) -> str | None:
        """A verification status that counts (one the table does not ignore: confirmed), or
        none."""
        counting = [v for v in VERIFICATION_STATUSES if v not in self.map.ignored_verification]
        choices: list[str | None] = [*counting, None]
        return self.rng.choices(choices, weights=[85] * len(counting) + [15])[0]

    def _clinical(self, status: str) -> str | None:
        """The clinical status as written: none for an active one with `no_clinical_status`
        (the table reads a condition without one as active)."""
        if self.noise.no_clinical_status and status in self.map.active_statuses:
            return None
        return status

    def conditions(self) -> None:
        """Known CVD (ever), diabetes and hypertension (active only), and the noise."""
        p, noise = self.person, self.noise
        for item in p.cvd_items:
            codes = CVD_ITEM_CODES[item]
            clinical = "resolved" if item == MI_ITEM and noise.mi_resolved else self.rng.choices(
                ["active", "inactive", "resolved"], weights=[70, 15, 15])[0]
            if item == HF_ITEM and noise.htn_hf:
                # I11.0 / I13.0 / I13.2: known CVD, and hypertension when active
                self.condition([], HTN_HF_ICD, "Hypertensive heart disease with heart failure",
                               self._clinical(clinical), self._verification(), system="icd10")
                continue
            if noise.new_codes and item in NEW_CVD_CODES:
                system, new, text = NEW_CVD_CODES[item]
                self.condition(new if system == "snomed" else [], new if system == "icd10" else [],
                               text, self._clinical(clinical), self._verification(),
                               system=system)
                continue
            self.condition(codes["snomed"], codes["icd10cm"], CVD_ITEM_TEXT[item],
                           self._clinical(clinical), self._verification())
        if p.dm:
            clinical = self.rng.choices(self.map.active_statuses, weights=[8] + [1] * (
                len(self.map.active_statuses) - 1))[0]
            if noise.new_codes:
                self.condition([NEW_DM_SNOMED], [], "Type 2 diabetes mellitus without retinopathy",
                               self._clinical(clinical), self._verification(), system="snomed")
            else:
                self.condition(self.cat.dm_snomed, DM_ICD, "Diabetes mellitus",
                               self._clinical(clinical), self._verification())
        if noise.resolved_dm:
            self.condition(self.cat.dm_snomed, DM_ICD, "Diabetes mellitus (history)",
                           self.rng.choice(["inactive", "resolved", "remission"]),
                           self._verification())
        htn_active = p.told_high_bp and not noise.htn_resolved
        if p.told_high_bp:
            self.condition(self.cat.htn_snomed, HTN_ICD, "Hypertension",
                           self._clinical("active") if htn_active
                           else self.rng.choice(["inactive", "resolved"]), self._verification())
        if noise.refuted:
            self._refuted_condition(htn_active)
        if noise.condition_future:
            self._future_condition(htn_active)
        if noise.distractor:
            distractors = [d for d in DISTRACTOR_CONDITIONS
                           if not noise.icd10_who or who_codes([d[1]])]
            snomed, icd, text = self.rng.choice(distractors)
            self.condition([snomed], [icd], text, "active", "confirmed")
        # The sets, as the table's rules read the Conditions written: the NHANES facts, plus
        # hypertension from an active hypertensive heart disease with heart failure.
        written = [r for r in self.resources if r["resourceType"] == "Condition"]
        flags = {column: int(any(self.map.condition_counts(column, r, self.as_of)
                                 for r in written))
                 for column in self.map.conditions}
        assert flags["known_cvd"] == p.known_cvd and flags["dm"] == p.dm, p.key
        assert flags["hypertension"] == int(htn_active) or (
            noise.htn_hf and flags["hypertension"] == 1), p.key
        self.values.update(known_cvd=flags["known_cvd"], dm=flags["dm"],
                           hypertension=flags["hypertension"])

    def _refuted_condition(self, htn_active: bool) -> None:
        """A condition with a verification status the table ignores (refuted, unconfirmed,
        differential, ...) in a set the patient is 0 in (when one is): it must not count."""
        p = self.person
        verification = self.noise.refuted
        clinical = None if verification == "entered-in-error" else "active"
        if not p.dm:
            self.condition(self.cat.dm_snomed, DM_ICD, "Diabetes mellitus", clinical,
                           verification)
        elif not htn_active:
            self.condition(self.cat.htn_snomed, HTN_ICD, "Hypertension", clinical, verification)
        else:  # (counts nothing new if the patient has known CVD already)
            codes = CVD_ITEM_CODES[MI_ITEM]
            self.condition(codes["snomed"], codes["icd10cm"], "Myocardial infarction",
                           clinical, verification)

    def _future_condition(self, htn_active: bool) -> None:
        """An active, confirmed condition in a set the patient is 0 in, dated after as-of (its
        onset; its recordedDate, after a past onset; its recordedDate, no onset): not known
        on the screening date, it must not count."""
        p, when = self.person, self.noise.condition_future
        later = self.as_of + dt.timedelta(days=self.rng.randint(1, 300))
        dates: dict[str, Any]
        if when == "onset":
            dates = {"onset": later}
        elif when == "recorded_after_onset":
            dates = {"onset": self.as_of - dt.timedelta(days=self.rng.randint(30, 2000)),
                     "recorded": later}
        else:
            dates = {"recorded": later, "dated": False}
        if not p.dm:
            self.condition(self.cat.dm_snomed, DM_ICD, "Diabetes mellitus", "active",
                           "confirmed", **dates)
        elif not p.known_cvd:
            codes = CVD_ITEM_CODES[MI_ITEM]
            self.condition(codes["snomed"], codes["icd10cm"], "Myocardial infarction", "active",
                           "confirmed", **dates)
        else:
            assert not htn_active, self.person.key
            self.condition(self.cat.htn_snomed, HTN_ICD, "Hypertension", "active", "confirmed",
                           **dates)

    # -- medications -----------------------------------------------------------------------

    def medication(self, kind: str, drug: tuple[str, str, str], status: str | None,
                   intent: str | None = None, style: tuple[str | None, str | None] = (None, None),
                   authored: dt.date | None = None, do_not_perform: bool = False) -> None:
        """One MedicationRequest or MedicationStatement (ATC, RxNorm or both); status None
        means a non-counting one of the chosen resource type. A request's `intent`: the one
        given, else one of the table's (an order) or, for one in ten, none; its authoredOn
        `authored` (default: a past day), doNotPerform if asked. `style` (resource type,
        coding system) and the noise's `med_style` fix what is otherwise random."""
        rtype, system = self.noise.med_style.get(kind) or (
            style[0] or self.rng.choice(["MedicationRequest", "MedicationStatement"]),
            style[1] or self.rng.choices(["atc", "rxnorm", "both"], weights=[40, 40, 20])[0])
        atc, rxnorm, name = drug
        coding = []
        if system in ("atc", "both"):
            coding.append(self._concept(ATC, atc, name))
        if system in ("rxnorm", "both"):
            coding.append(self._concept(RXNORM, rxnorm, name))
        if status is None:
            status = self.rng.choice(["stopped", "completed", "cancelled"]
                                     if rtype == "MedicationRequest" else ["stopped", "completed"])
        when = self._recent_day() - dt.timedelta(days=self.rng.randint(0, 900))
        prefix = "medreq" if rtype == "MedicationRequest" else "medstmt"
        resource: Resource = {"resourceType": rtype, "id": self._id(prefix), "status": status}
        if rtype == "MedicationRequest":
            intents = self.map.medication_request_intents
            if intent is None and self.rng.random() >= 0.1:
                intent = self.rng.choices(intents, weights=[6] + [1] * (len(intents) - 1))[0]
            if intent is not None:
                resource["intent"] = intent
            if do_not_perform:
                resource["doNotPerform"] = True
        resource.update({"medicationCodeableConcept": {"coding": coding, "text": name},
                         "subject": self.subject})
        resource["authoredOn" if rtype == "MedicationRequest" else "effectiveDateTime"] = (
            (authored or when).isoformat())
        self.resources.append(resource)

    def medications(self) -> None:
        """Active BP medication / statin per the NHANES answers, and the noise."""
        p, noise, active = self.person, self.noise, self.map.medication_statuses[0]
        if p.bp_tx:
            self.medication("bp", self.rng.choice(BP_DRUGS), active)
            if self.rng.random() < 0.3:
                self.medication("bp2", self.rng.choice(BP_DRUGS), active)
        if p.statin and noise.statin_combo:
            self.medication("statin", self.rng.choice(STATIN_COMBOS), active,
                            style=(None, "atc"))
        elif p.statin:
            self.medication("statin", self.rng.choice(STATIN_DRUGS), active)
        if noise.stopped_med:
            stopped_kind = "bp" if not p.bp_tx else "statin" if not p.statin else "bp"
            drugs = BP_DRUGS if stopped_kind == "bp" else STATIN_DRUGS
            self.medication("stopped", self.rng.choice(drugs), None)
        if p.dm and self.rng.random() < 0.5:
            self.medication("other", (*DISTRACTOR_DRUGS["metformin"], "metformin"), active)
        if not p.statin and self.rng.random() < 0.08:
            self.medication("other", (*DISTRACTOR_DRUGS["ezetimibe"], "ezetimibe"), active)
        if p.known_cvd and self.rng.random() < 0.5:
            self.medication("other", (*DISTRACTOR_DRUGS["aspirin"], "aspirin"), active)
        if noise.not_ordered:
            # active, but a proposal or a plan: not an order, it must not count
            drugs = STATIN_DRUGS if not p.statin or p.bp_tx else BP_DRUGS
            self.medication("not_ordered", self.rng.choice(drugs), active,
                            intent=noise.not_ordered, style=("MedicationRequest", None))
        # active orders of a class the patient does not take that must not count: authored
        # after as-of, or an order not to give the drug
        missing = STATIN_DRUGS if not p.statin else BP_DRUGS
        if noise.med_future:
            self.medication("future", self.rng.choice(missing), active, intent="order",
                            style=("MedicationRequest", None),
                            authored=self.as_of + dt.timedelta(days=self.rng.randint(1, 120)))
        if noise.do_not_perform:
            self.medication("do_not_perform", self.rng.choice(missing), active, intent="order",
                            style=("MedicationRequest", None), do_not_perform=True)
        written = [r for r in self.resources if r["resourceType"].startswith("Medication")]
        flags = {column: int(any(self.map.medication_counts(column, r, self.as_of)
                                 for r in written))
                 for column in self.map.medications}
        assert flags == {"bp_tx": p.bp_tx, "statin": p.statin}, p.key
        self.values.update(flags)

    # -- result ----------------------------------------------------------------------------

    def build(self) -> PatientRecord:
        """Every resource of the patient, and the expected outcome and values."""
        self.patient()
        self.observations()
        self.conditions()
        self.medications()
        p = self.person
        self.values.update(age=p.age, sex=p.sex, male=int(p.sex == "male"))
        self.values["hypertension_or_bp_tx"] = int(bool(self.values["hypertension"]) or p.bp_tx)
        assert len(self.errors) <= 1 and not (self.errors and self.noise.gender), p.key
        if self.noise.gender:
            outcome, detail = "not_eligible_sex", f"gender:{self.noise.gender}"
        elif self.errors:
            outcome, detail = "error", self.errors[0]
        else:
            outcome, detail = "row", ""
        return PatientRecord(p, self.resources, outcome, detail, self.values)


# ---------------------------------------------------------------------------------------------
# The data set


def build_records(people: list[Person], plan: dict[str, Noise], catalogue: Catalogue,
                  as_of: dt.date, seed: int) -> list[PatientRecord]:
    """Every patient's record, in the people's order."""
    return [PatientBuilder(p, plan[p.key], catalogue, as_of, seed).build() for p in people]


OUTCOME_KINDS = ("row", "not_eligible_sex", "error missing", "error unknown_unit",
                 "error comparator", "error unmapped_answer", "error deceased")
MIN_PATIENTS_FOR_EVERY_OUTCOME = 20


def outcome_kind(record: PatientRecord) -> str:
    """row / not_eligible_sex / "error <kind>" (the detail up to its first colon)."""
    if record.outcome != "error":
        return record.outcome
    return f"error {record.detail.split(':')[0]}"


def check_outcome_kinds(records: list[PatientRecord]) -> None:
    """From MIN_PATIENTS_FOR_EVERY_OUTCOME patients on, every outcome kind is present (the
    exclusive noise kinds get at least one patient each, and the rest are rows)."""
    if len(records) < MIN_PATIENTS_FOR_EVERY_OUTCOME:
        return
    absent = set(OUTCOME_KINDS) - {outcome_kind(r) for r in records}
    if absent:
        raise AssertionError(f"no patient with expected outcome {sorted(absent)}")


def prevent_line(record: PatientRecord) -> list[str]:
    """One expected-prevent.csv row (eGFR or creatinine, as the kidney winner is; race empty
    without the extension)."""
    v = record.values
    cells: list[str] = [record.person.patient_id]
    for column in PREVENT_HEADER[1:]:
        value = v.get(column)
        cells.append("" if value is None else value if isinstance(value, str)
                     else format_number(value))
    return cells


def cvd_lr_line(record: PatientRecord, mapping: Mapping) -> list[str]:
    """One expected-cvd-lr.csv row, its columns taken through the table's schema1_columns."""
    if set(mapping.schema1_columns) != set(CVD_LR_HEADER[1:]):
        raise ValueError("mapping: schema1_columns are not the cvd-lr CSV columns")
    cells = [record.person.patient_id]
    for column in CVD_LR_HEADER[1:]:
        value = record.values[mapping.schema1_columns[column]]
        assert value is not None and not isinstance(value, str)
        cells.append(format_number(value))
    return cells


def csv_text(header: list[str], rows: Iterable[list[str]]) -> str:
    """CSV text (no cell needs quoting: ids, numbers, levels and details only)."""
    return "".join(",".join(r) + "\n" for r in [header, *rows])


def resource_uuid(resource: Resource) -> str:
    """A deterministic urn:uuid for a resource (from its type and id)."""
    return f"urn:uuid:{uuid.uuid5(UUID_NAMESPACE, resource['resourceType'] + '/' + resource['id'])}"


def bundle(records: list[PatientRecord]) -> Resource:
    """A collection Bundle of every resource, patient by patient."""
    return {
        "resourceType": "Bundle", "id": "pulsecure-fhir-testdata", "type": "collection",
        "entry": [{"fullUrl": resource_uuid(r), "resource": r}
                  for record in records for r in record.resources],
    }


def bulk_files(records: list[PatientRecord], seed: int) -> dict[str, list[Resource]]:
    """The Bulk Data files: resources by type, each file shuffled with the seed, Observation
    split in two numbered files."""
    by_type: dict[str, list[Resource]] = {t: [] for t in BULK_TYPES + ["Observation"]}
    for record in records:
        for r in record.resources:
            by_type[r["resourceType"]].append(r)
    files: dict[str, list[Resource]] = {}
    for rtype, resources in by_type.items():
        shuffled = list(resources)
        random.Random(f"{seed}/bulk/{rtype}").shuffle(shuffled)
        if rtype == "Observation":
            half = (len(shuffled) + 1) // 2
            files["Observation.1.ndjson"], files["Observation.2.ndjson"] = (
                shuffled[:half], shuffled[half:])
        else:
            files[f"{rtype}.ndjson"] = shuffled
    return files


def compact(resource: Resource) -> str:
    """One resource as one compact JSON line."""
    return json.dumps(resource, ensure_ascii=False, separators=(",", ":"))


def write_text(path: Path, text: str) -> None:
    """Write UTF-8 text with \\n line ends."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="\n") as handle:
        handle.write(text)


def write_dataset(records: list[PatientRecord], mapping: Mapping, out: Path, seed: int) -> None:
    """Write bundle.json, bulk/*.ndjson and the three expected CSV files into `out`."""
    write_text(out / "bundle.json", compact(bundle(records)) + "\n")
    for name, resources in bulk_files(records, seed).items():
        write_text(out / "bulk" / name, "".join(compact(r) + "\n" for r in resources))
    rows = [r for r in records if r.outcome == "row"]
    write_text(out / "expected-prevent.csv", csv_text(PREVENT_HEADER, map(prevent_line, rows)))
    write_text(out / "expected-cvd-lr.csv",
               csv_text(CVD_LR_HEADER, (cvd_lr_line(r, mapping) for r in rows)))
    write_text(out / "expected-outcomes.csv", csv_text(
        OUTCOMES_HEADER, ([r.person.patient_id, r.outcome, r.detail] for r in records)))


def generate(out: Path, patients: int = DEFAULT_PATIENTS, seed: int = DEFAULT_SEED,
             as_of: str = DEFAULT_AS_OF, map_path: Path = MAP_PATH) -> list[PatientRecord]:
    """The whole data set into `out`; returns the records."""
    mapping = load_mapping(map_path)
    catalogue = build_catalogue(mapping)
    people = select_people(patients)
    records = build_records(people, plan_noise(people, seed, mapping), catalogue,
                            dt.date.fromisoformat(as_of), seed)
    check_outcome_kinds(records)
    write_dataset(records, mapping, out, seed)
    return records


# ---------------------------------------------------------------------------------------------
# The committed example


def _in_range(p: Person) -> bool:
    ranges = P.input_ranges()
    values = {"age": p.age, "sbp": p.sbp, "total_c": p.total_c, "hdl_c": p.hdl_c, "egfr": p.egfr}
    return all(lo <= values[n] <= hi for n, (lo, hi) in ranges.items())


#: The example's cases, in order: (who qualifies, the noise they carry).
EXAMPLE_CASES: list[tuple[str, Callable[[Person], bool], Callable[[], Noise]]] = [
    ("plain", lambda p: (_in_range(p) and not p.known_cvd and not p.bp_tx and not p.statin
                         and not p.dm and not p.smoking and not p.told_high_bp),
     lambda: Noise(condition_system="snomed")),
    ("cholesterol in mmol/L; a CKD-EPI 2021 eGFR and a creatinine of the same day (the eGFR is "
     "used) and an older legacy eGFR", lambda p: _in_range(p) and not p.known_cvd,
     lambda: Noise(tc_mmol=True, hdl_mmol=True, egfr_obs="same", legacy="older")),
    ("SBP in a panel, newer entered-in-error SBP, a differential diagnosis of diabetes and a "
     "diabetes with an onset after the screening date",
     lambda p: _in_range(p) and not p.known_cvd and p.told_high_bp and not p.bp_tx and not p.dm,
     lambda: Noise(sbp_panel=True, invalid_newer="sbp", condition_system="icd10",
                   refuted="differential", condition_future="onset")),
    ("a creatinine in µmol/L newer than a CKD-EPI 2021 eGFR (the creatinine is used), an "
     "older value outside the window", lambda p: _in_range(p) and not p.known_cvd,
     lambda: Noise(scr_umol="µmol/L", egfr_obs="older", out_of_window=KIDNEY)),
    ("known CVD via a resolved old myocardial infarction (SNOMED CT 1755008)",
     lambda p: p.cvd_items == (MI_ITEM,),
     lambda: Noise(mi_resolved=True, condition_system="snomed", new_codes=True)),
    ("statin (ATC C10BA combination) and BP medication (and a stopped one), no race extension",
     lambda p: _in_range(p) and not p.known_cvd and p.bp_tx == 1 and p.statin == 1,
     lambda: Noise(stopped_med=True, statin_combo=True, condition_system="icd10",
                   race_absent=True, med_style={
                       "bp": ("MedicationRequest", "rxnorm"),
                       "bp2": ("MedicationRequest", "rxnorm"),
                       "statin": ("MedicationStatement", "atc"),
                       "stopped": ("MedicationRequest", "atc")})),
    ("HDL only outside the window: error missing:2085-9",
     lambda p: _in_range(p) and not p.known_cvd,
     lambda: Noise(hdl_missing="old_only")),
    ("cigarette smoker (SNOMED CT 65568007) with diabetes (ICD-10-CM in lower case, no "
     "clinicalStatus), older TC in an unknown unit",
     lambda p: _in_range(p) and not p.known_cvd and p.smoking == 1 and p.dm == 1,
     lambda: Noise(old_bad_unit="total_c", unit_text_only="sbp", condition_system="icd10",
                   icd_lowercase=True, no_clinical_status=True, smoking_code="65568007")),
    ("a legacy eGFR newer than the creatinine: used as the eGFR",
     lambda p: _in_range(p) and not p.known_cvd,
     lambda: Noise(legacy="newer")),
    ("heart failure as hypertensive heart disease (WHO ICD-10 I11.0 / I13.0 / I13.2), a statin "
     "proposed, one ordered not to be given (doNotPerform) and one ordered after the screening "
     "date", lambda p: HF_ITEM in p.cvd_items and p.told_high_bp and not p.statin,
     lambda: Noise(htn_hf=True, icd10_who=True, not_ordered="proposal", do_not_perform=True,
                   med_future=True)),
]


def example_records(patients: int, seed: int, as_of: dt.date,
                    catalogue: Catalogue) -> list[PatientRecord]:
    """The first `patients` example cases, each given to the first person in SEQN order who
    qualifies (and is not used already)."""
    if not 1 <= patients <= len(EXAMPLE_CASES):
        raise ValueError(f"--example takes 1 to {len(EXAMPLE_CASES)} patients")
    used: set[str] = set()
    records = []
    for name, qualifies, noise in EXAMPLE_CASES[:patients]:
        person = next((p for p in source_pool() if p.key not in used and qualifies(p)), None)
        if person is None:
            raise ValueError(f"example: nobody qualifies for {name!r}")
        used.add(person.key)
        records.append(PatientBuilder(person, noise(), catalogue, as_of, seed).build())
    return records


def write_example(path: Path, patients: int, seed: int, as_of: str,
                  map_path: Path = MAP_PATH) -> list[PatientRecord]:
    """The pretty-printed example Bundle at `path` and prevent-patients.csv beside it."""
    catalogue = build_catalogue(load_mapping(map_path))
    records = example_records(patients, seed, dt.date.fromisoformat(as_of), catalogue)
    write_text(path, json.dumps(bundle(records), ensure_ascii=False, indent=2) + "\n")
    rows = [prevent_line(r) for r in records if r.outcome == "row"]
    write_text(path.parent / "prevent-patients.csv", csv_text(PREVENT_HEADER, rows))
    return records


# ---------------------------------------------------------------------------------------------
# Command line


def summary(records: list[PatientRecord]) -> str:
    """Counts per expected outcome and per resource type."""
    outcomes: dict[str, int] = {}
    types: dict[str, int] = {}
    for record in records:
        outcomes[record.outcome] = outcomes.get(record.outcome, 0) + 1
        for r in record.resources:
            types[r["resourceType"]] = types.get(r["resourceType"], 0) + 1
    return (f"{len(records)} patients: "
            + ", ".join(f"{k} {v}" for k, v in sorted(outcomes.items()))
            + "; resources: " + ", ".join(f"{k} {v}" for k, v in sorted(types.items())))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line (see the module docstring)."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--out", type=Path, help="directory for the full data set")
    parser.add_argument("--patients", type=int, default=DEFAULT_PATIENTS)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--as-of", default=DEFAULT_AS_OF, help="screening date YYYY-MM-DD")
    parser.add_argument("--example", type=Path,
                        help="write only the example Bundle here (and prevent-patients.csv "
                             "beside it): the first --patients of the example cases")
    args = parser.parse_args(argv)
    if (args.out is None) == (args.example is None):
        parser.error("give exactly one of --out DIR and --example PATH")
    if args.patients < 1:
        parser.error("--patients must be at least 1")
    dt.date.fromisoformat(args.as_of)
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    started = time.perf_counter()
    if args.example is not None:
        records = write_example(args.example, args.patients, args.seed, args.as_of)
        where = args.example
    else:
        records = generate(args.out, args.patients, args.seed, args.as_of)
        where = args.out
    print(f"{where}: {summary(records)} ({time.perf_counter() - started:.1f} s)", file=sys.stderr)


if __name__ == "__main__":
    main()
