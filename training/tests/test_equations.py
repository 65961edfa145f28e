"""The committed equation declarations are exactly what `training/equations.py` makes from
the published coefficient files (so a hand edit of a coefficient cannot go unnoticed), and the
generator refuses a term it cannot declare."""
from __future__ import annotations

import copy
import json

import pytest

from training import equations as E


def test_committed_declarations_are_regenerated_byte_for_byte(tmp_path, monkeypatch):
    monkeypatch.setattr("sys.argv", ["equations", "--out", str(tmp_path)])
    E.main()
    for name in ("prevent-cvd-10y", "prevent-ascvd-10y", "pce-ascvd-10y"):
        made = (tmp_path / f"{name}.json").read_bytes()
        committed = (E.DEFAULT_OUT / f"{name}.json").read_bytes()
        assert made == committed, name


def test_an_undeclared_term_with_a_coefficient_is_refused():
    source = json.loads((E.DEFAULT_SOURCE / "prevent_coefficients.json").read_text())
    broken = copy.deepcopy(source)
    model = broken["models"]["base_10yr"]
    i = model["terms"].index("bmi_gte_30")
    model["coefficients"]["female_total_cvd"][i] = 0.1
    with pytest.raises(SystemExit, match="bmi_gte_30"):
        E.prevent_equation(broken, "total_cvd")
