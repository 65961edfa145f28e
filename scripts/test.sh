#!/usr/bin/env bash
# The whole test suite: formatting, lints, every Rust test (unit, property, golden-vector,
# snapshot, real-TFHE and end-to-end tests of the binary, the TUI in tmux), the air-gap
# flows (network namespace + strace, and the Docker container) and the Python training tests.
# Expects the training venv at training/.venv (created by .ci/run, or see README).
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== cargo fmt --check"
cargo fmt --all -- --check

echo "== cargo clippy (all targets, warnings are errors)"
cargo clippy --workspace --all-targets -- -D warnings

echo "== no new file-level import cycle inside a crate (scripts/file_cycles.known lists the old ones)"
python3 scripts/file_cycles.py

echo "== core depends on no adapter crate"
if cargo tree -p pulsecure-core -e normal --prefix none | grep -Eq '^(tfhe|rusqlite|ratatui|crossterm|opendp|pulsecure-fhe) '; then
  echo "pulsecure-core pulls in an adapter crate" >&2
  exit 1
fi

echo "== the TUI crate depends on no heavy adapter"
if cargo tree -p pulsecure-tui -e normal --prefix none | grep -Eq '^(tfhe|rusqlite|opendp|pulsecure-fhe|pulsecure-store|pulsecure-privacy|pulsecure-batch-input) '; then
  echo "pulsecure-tui pulls in an adapter crate" >&2
  exit 1
fi

echo "== the binary reaches the store and the privacy adapter only through the application layer"
if cargo tree -p pulsecure-cli -e normal --depth 1 --prefix none | grep -Eq '^(pulsecure-store|pulsecure-privacy|rusqlite|opendp) '; then
  echo "pulsecure-cli depends on the store or privacy adapter directly" >&2
  exit 1
fi

echo "== key material in argon2 and aes-gcm is zeroized (their zeroize features are on)"
for crate in argon2 aes-gcm; do
  if ! cargo tree -p pulsecure-vault -e features -i "$crate" --prefix none | grep -q "^$crate feature \"zeroize\""; then
    echo "$crate is built without its zeroize feature" >&2
    exit 1
  fi
done

echo "== Rust tests"
cargo test --workspace

echo "== Air gap: the offline flow in a network namespace under strace, then in the container"
./deploy/airgap-e2e.sh namespace target/debug/pulsecure
./deploy/build-image.sh target/debug/pulsecure pulsecure:test
./deploy/airgap-e2e.sh container target/debug/pulsecure

echo "== Python lint and types (ruff, mypy; settings in pyproject.toml)"
training/.venv/bin/ruff check
training/.venv/bin/mypy

echo "== Python training tests"
training/.venv/bin/python -m pytest -q training/tests -m "not pipeline"
echo "== Python full-pipeline test (retrains the model and compares it byte for byte)"
training/.venv/bin/python -m pytest -q training/tests -m pipeline
