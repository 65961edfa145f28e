#!/usr/bin/env python3
"""Write a synthetic FHIR Bulk Data export at population scale, for the reader benchmark
(`pulsecure bench --fhir-bulk DIR`): N patients with about 20 observations each (systolic BP,
total and HDL cholesterol, creatinine, eGFR, smoking status, one unmapped code), one
condition and one medication request each, in Patient.ndjson, Observation.1-4.ndjson,
Condition.ndjson and MedicationRequest.ndjson, resources of one patient scattered across
files. Values are random and plausible; no real person's data. Deterministic for a seed.

    python3 scripts/fhir_bulk_synth.py --patients 1000000 --out /tmp/bulk
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path

OBS = (
    '{{"resourceType":"Observation","id":"{oid}","status":"final",'
    '"category":[{{"coding":[{{"system":"http://terminology.hl7.org/CodeSystem/observation-category","code":"{cat}"}}]}}],'
    '"code":{{"coding":[{{"system":"http://loinc.org","code":"{loinc}","display":"{display}"}}]}},'
    '"subject":{{"reference":"Patient/{pid}"}},"effectiveDateTime":"{date}T09:{minute:02d}:00Z",'
    '"valueQuantity":{{"value":{value},"unit":"{unit}","system":"http://unitsofmeasure.org","code":"{unit}"}}}}\n'
)
SMOKE = (
    '{{"resourceType":"Observation","id":"{oid}","status":"final",'
    '"code":{{"coding":[{{"system":"http://loinc.org","code":"72166-2"}}]}},'
    '"subject":{{"reference":"Patient/{pid}"}},"effectiveDateTime":"{date}",'
    '"valueCodeableConcept":{{"coding":[{{"system":"http://snomed.info/sct","code":"{code}"}}]}}}}\n'
)
PATIENT = '{{"resourceType":"Patient","id":"{pid}","gender":"{gender}","birthDate":"{birth}"}}\n'
CONDITION = (
    '{{"resourceType":"Condition","id":"{cid}","subject":{{"reference":"Patient/{pid}"}},'
    '"clinicalStatus":{{"coding":[{{"system":"http://terminology.hl7.org/CodeSystem/condition-clinical","code":"{status}"}}]}},'
    '"code":{{"coding":[{{"system":"http://hl7.org/fhir/sid/icd-10-cm","code":"{code}"}}]}}}}\n'
)
MED = (
    '{{"resourceType":"MedicationRequest","id":"{mid}","status":"{status}","intent":"order",'
    '"subject":{{"reference":"Patient/{pid}"}},'
    '"medicationCodeableConcept":{{"coding":[{{"system":"http://www.whocc.no/atc","code":"{atc}"}}]}}}}\n'
)

MEASURES = [  # (loinc, display, unit, low, high, decimals, count, category)
    ("8480-6", "Systolic blood pressure", "mm[Hg]", 95, 190, 0, 6, "vital-signs"),
    ("2093-3", "Cholesterol", "mg/dL", 130, 320, 0, 3, "laboratory"),
    ("2085-9", "HDL cholesterol", "mg/dL", 25, 95, 0, 3, "laboratory"),
    ("2160-0", "Creatinine", "mg/dL", 0.5, 1.6, 2, 3, "laboratory"),
    ("33914-3", "eGFR", "mL/min/{1.73_m2}", 45, 120, 0, 2, "laboratory"),
    ("39156-5", "BMI", "kg/m2", 18, 42, 1, 1, "vital-signs"),
]


def day(rng: random.Random) -> str:
    """A date in 2024-2026 (some outside a 2-year window before 2026-06-30)."""
    return f"{rng.randint(2023, 2026)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=1000)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    patients = open(args.out / "Patient.ndjson", "w")
    obs = [open(args.out / f"Observation.{i}.ndjson", "w") for i in range(1, 5)]
    conditions = open(args.out / "Condition.ndjson", "w")
    meds = open(args.out / "MedicationRequest.ndjson", "w")
    resources = 0
    for n in range(args.patients):
        pid = f"p{n:07d}"
        patients.write(
            PATIENT.format(
                pid=pid,
                gender=rng.choice(("female", "male")),
                birth=(
                    f"{rng.randint(1947, 1995)}-{rng.randint(1, 12):02d}"
                    f"-{rng.randint(1, 28):02d}"
                ),
            )
        )
        k = 0
        for loinc, display, unit, low, high, decimals, count, cat in MEASURES:
            for _ in range(count):
                k += 1
                value = round(rng.uniform(low, high), decimals)
                obs[rng.randrange(4)].write(
                    OBS.format(
                        oid=f"{pid}-o{k}", cat=cat, loinc=loinc, display=display, pid=pid,
                        date=day(rng), minute=k, value=value if decimals else int(value), unit=unit,
                    )
                )
        for _ in range(2):
            k += 1
            obs[rng.randrange(4)].write(
                SMOKE.format(oid=f"{pid}-o{k}", pid=pid, date=day(rng),
                             code=rng.choice(("449868002", "8517006", "266919005")))
            )
        conditions.write(
            CONDITION.format(cid=f"{pid}-c1", pid=pid, status=rng.choice(("active", "resolved")),
                             code=rng.choice(("E11.9", "I10", "J45.909")))
        )
        meds.write(
            MED.format(mid=f"{pid}-m1", pid=pid, status=rng.choice(("active", "stopped")),
                       atc=rng.choice(("C10AA05", "C09AA03", "A10BA02")))
        )
        resources += k + 3
    for f in [patients, conditions, meds, *obs]:
        f.close()
    print(f"{args.patients} patients, {resources} resources in {args.out}")


if __name__ == "__main__":
    main()
