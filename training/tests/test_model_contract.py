"""The schema-1 model contract, from the case file both test suites read
(models/contract-cases.json; the Rust side is crates/pulsecure-core/tests/model_contract.rs):
the exporter's check refuses each case naming its limit, accepts the released models, and
knows exactly the limits the case file and docs/model-format.md list."""
from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest

from training import train_v3
from training.circuit_limits import CircuitLimitError, check_circuit_limits
from training.model_contract import LIMITS, ModelContractError, check_model

REPO = Path(__file__).resolve().parents[2]
CONTRACT = json.loads((REPO / "models" / "contract-cases.json").read_text())


def _tokens(pointer: str) -> list[str]:
    assert pointer.startswith("/"), pointer
    return [t.replace("~1", "/").replace("~0", "~") for t in pointer[1:].split("/")]


def _parent(doc: Any, pointer: str) -> tuple[Any, str]:
    *path, last = _tokens(pointer)
    node = doc
    for t in path:
        node = node[int(t)] if isinstance(node, list) else node[t]
    return node, last


def apply_edits(doc: Any, edits: list[dict]) -> Any:
    """The case file's edits (`set`, `remove`, `set_runs`) on a copy of `doc`."""
    doc = copy.deepcopy(doc)
    for edit in edits:
        parent, last = _parent(doc, edit["path"])
        if edit["op"] == "set_runs":
            value: Any = [v for v, count in edit["runs"] for _ in range(count)]
        else:
            value = edit.get("value")
        if edit["op"] == "remove":
            del parent[int(last) if isinstance(parent, list) else last]
        elif isinstance(parent, list) and last == "-":
            parent.append(value)
        elif isinstance(parent, list):
            parent[int(last)] = value
        elif edit["op"] in ("set", "set_runs"):
            parent[last] = value
        else:
            raise AssertionError(f"unknown edit {edit['op']}")
    return doc


def built(entry: dict) -> Any:
    base = json.loads((REPO / entry.get("base", CONTRACT["base"])).read_text())
    return apply_edits(base, entry["edits"])


def test_the_case_file_lists_exactly_the_limits_this_check_knows_in_its_order():
    assert CONTRACT["limits"] == list(LIMITS)
    assert {c["limit"] for c in CONTRACT["cases"]} == set(LIMITS), "a limit without a case"


def test_the_docs_list_exactly_the_contract_limits_in_order():
    text = (REPO / "docs" / "model-format.md").read_text()
    section = text.split("## The model contract (schema 1)", 1)[1].split("\n## ", 1)[0]
    named = re.findall(r"^\| `([a-z_]+)` \|", section, flags=re.MULTILINE)
    assert named == list(LIMITS)


ACCEPTED = CONTRACT["accepted"]


@pytest.mark.parametrize("entry", ACCEPTED, ids=[a["name"] for a in ACCEPTED])
def test_an_accepted_model_passes(entry):
    check_model(built(entry))


CASES = CONTRACT["cases"]


@pytest.mark.parametrize("case", CASES, ids=[f"{c['limit']}-{i}" for i, c in enumerate(CASES)])
def test_a_model_breaking_a_limit_is_refused_naming_it(case):
    with pytest.raises(ModelContractError) as err:
        check_model(built(case))
    assert err.value.limit == case["limit"], f"{case['what']}: {err.value}"
    assert str(err.value).startswith(f"model limit `{case['limit']}` (field `")


def test_the_v3_exporter_checks_the_contract():
    assert train_v3.check_model is check_model


def test_the_frozen_v2_check_still_refuses_what_the_circuit_now_accepts():
    """training.circuit_limits is covered by the signed v2 release's code hash, so it keeps
    `boundaries_per_bucket` (stricter than circuit v2 needs); the contract does not."""
    retired = next(a for a in CONTRACT["accepted"] if "boundaries_per_bucket" in a["name"])
    with pytest.raises(CircuitLimitError) as err:
        check_circuit_limits(built(retired))
    assert err.value.limit == "boundaries_per_bucket"
