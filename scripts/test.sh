#!/usr/bin/env bash
# The whole test suite: formatting, lints, every Rust test (unit, property, golden-vector,
# real-TFHE and end-to-end tests of the binary) and the Python training tests.
# Expects the training venv at training/.venv (created by .ci/run, or see README).
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== cargo fmt --check"
cargo fmt --all -- --check

echo "== cargo clippy (all targets, warnings are errors)"
cargo clippy --workspace --all-targets -- -D warnings

echo "== core depends on no adapter crate"
if cargo tree -p pulsecure-core -e normal --prefix none | grep -Eq '^(tfhe|rusqlite|ratatui|crossterm|opendp|pulsecure-fhe) '; then
  echo "pulsecure-core pulls in an adapter crate" >&2
  exit 1
fi

echo "== Rust tests"
cargo test --workspace

echo "== Python training tests"
training/.venv/bin/python -m pytest -q training/tests
