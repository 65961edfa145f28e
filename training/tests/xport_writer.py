"""A minimal SAS XPORT (version 5) writer for tests: numeric columns only, as the CDC's
NHANES files are. pandas reads XPORT but cannot write it; the tests need real XPT files to
show `training.evaluate` reads a cycle as published."""
from __future__ import annotations

import math
import struct
from pathlib import Path

import pandas as pd

_STAMP = b"01JAN20:00:00:00"


def _record(text: bytes) -> bytes:
    return text.ljust(80, b" ")


def _header(kind: str, tail: bytes = b"0" * 30) -> bytes:
    return _record(b"HEADER RECORD*******" + kind.ljust(8).encode() + b"HEADER RECORD!!!!!!!"
                   + tail)


def ibm_double(value: float) -> bytes:
    """IEEE 754 -> IBM System/360 hexadecimal double (SAS transport's numbers); NaN ->
    SAS missing '.'."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return b"\x2e" + b"\x00" * 7
    if value == 0:
        return b"\x00" * 8
    sign = 0x80 if value < 0 else 0
    value = abs(value)
    exponent = 64
    while value >= 1:
        value /= 16
        exponent += 1
    while value < 1 / 16:
        value *= 16
        exponent -= 1
    fraction = int(round(value * (1 << 56)))
    if fraction >= 1 << 56:  # rounding carried into a new hex digit
        fraction >>= 4
        exponent += 1
    return bytes([sign | exponent]) + fraction.to_bytes(7, "big")


def write_xport(path: Path, frame: pd.DataFrame, dataset: str) -> None:
    """Write `frame` (numeric columns, names <= 8 characters) as one XPORT member."""
    out = bytearray()
    out += _header("LIBRARY")
    out += _record(b"SAS     SAS     SASLIB  9.4     X64_7PRO" + b" " * 24 + _STAMP)
    out += _record(_STAMP)
    out += _header("MEMBER", b"000000000000000001600000000140")
    out += _header("DSCRPTR")
    out += _record(b"SAS     " + dataset.ljust(8).encode() + b"SASDATA 9.4     X64_7PRO"
                   + b" " * 24 + _STAMP)
    out += _record(_STAMP + b" " * 16 + b" " * 40 + b" " * 8)
    out += _header("NAMESTR", f"000000{len(frame.columns):04d}00000000000000000000".encode())
    names = bytearray()
    for i, name in enumerate(frame.columns):
        names += struct.pack(">hhhh", 1, 0, 8, i + 1)
        names += name.ljust(8).encode() + name.ljust(40).encode() + b" " * 8
        names += struct.pack(">hhhh", 0, 0, 0, 0) + b" " * 8 + struct.pack(">hh", 0, 0)
        names += struct.pack(">i", 8 * i) + b"\x00" * 52
    out += names + b" " * (-len(names) % 80)
    out += _header("OBS")
    data = bytearray()
    for row in frame.itertuples(index=False):
        for value in row:
            data += ibm_double(float(value))
    out += data + b" " * (-len(data) % 80)
    path.write_bytes(bytes(out))
