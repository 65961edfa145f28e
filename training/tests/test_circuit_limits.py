"""Fast unit tests of the v2 pipeline's frozen export check (`training.circuit_limits`; the
full model contract is `training.model_contract`, tested by test_model_contract.py): it
agrees with the committed model and names the limit a model breaks; the exporter refuses such
a model before writing anything."""
from __future__ import annotations

import copy
import json

import pytest

from training import train as T
from training.circuit_limits import CircuitLimitError, check_circuit_limits
from training.export import export_release

COMMITTED = json.loads((T.DEFAULT_OUT / "model.json").read_text())


def test_committed_model_is_within_every_limit():
    check_circuit_limits(COMMITTED)


def _broken(edit) -> dict:
    doc = copy.deepcopy(COMMITTED)
    edit(doc)
    return doc


CASES = [
    ("index_bits", lambda d: d["index"].update(bits=5)),
    ("whole_digits", lambda d: d["linear"].update(accumulator_bits=11)),
    ("contribution_width", lambda d: d["weights"].__setitem__(0, 4096 * 64)),
    ("accumulator_constant", lambda d: d["index"].update(offset=-10_000)),
    ("probability_levels", lambda d: d.update(lut=[i // 15 for i in range(256)])),
    ("boundaries_per_bucket", lambda d: d.update(lut=[min(i // 3, 15) for i in range(256)])),
    ("monotone_table", lambda d: d.update(lut=[15 - i // 16 for i in range(256)])),
]


@pytest.mark.parametrize("limit, edit", CASES, ids=[c[0] for c in CASES])
def test_a_model_breaking_a_limit_is_refused_with_its_name(limit, edit):
    with pytest.raises(CircuitLimitError) as err:
        check_circuit_limits(_broken(edit))
    assert err.value.limit == limit
    assert f"`{limit}`" in str(err.value)


def test_export_refuses_with_the_limit_name_and_writes_nothing(tmp_path):
    doc = _broken(CASES[-2][1])
    out = tmp_path / "release"
    with pytest.raises(SystemExit) as err:
        export_release(out, doc, {"vectors": []})
    assert "boundaries_per_bucket" in str(err.value)
    assert not out.exists()
