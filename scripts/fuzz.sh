#!/usr/bin/env bash
# Run every cargo-fuzz target for a bounded time (not part of CI; see docs/fuzzing.md).
#   scripts/fuzz.sh [seconds-per-target] [target...]
# Needs `cargo install cargo-fuzz`. Runs on the stable toolchain with `--sanitizer none`
# (coverage-guided libFuzzer; no AddressSanitizer, which needs nightly — the fuzzed crates
# forbid `unsafe`, so memory errors are out of reach of these inputs anyway).
# Seeds are made fresh from the real artefacts: the shipped model and its signature, the
# bundled example patients, and a vault created by `pulsecure init` at the cheapest KDF cost.
set -euo pipefail
cd "$(dirname "$0")/.."

SECONDS_PER_TARGET="${1:-600}"
shift || true
TARGETS=("$@")
if [ ${#TARGETS[@]} -eq 0 ]; then
  TARGETS=(model_json vault_file model_signature batch_reader evaluate_request evaluation_result)
fi

seeds="$(mktemp -d /tmp/pulsecure-fuzz-seeds.XXXXXX)"
trap 'rm -rf "$seeds"' EXIT
mkdir -p "$seeds"/{model_json,vault_file,model_signature,batch_reader,evaluate_request,evaluation_result}
# An EvaluateRequest seed: field 4 (request) holding a PSQ3 frame header with one short block;
# the target re-binds frames to its own key and model, so any key and model will do.
python3 -c 'import sys; frame=b"PSQ3"+bytes(48)+bytes([1,0])+bytes([4,0,0,0])+b"TFHE"; sys.stdout.buffer.write(bytes([0x22,len(frame)])+frame)' \
  > "$seeds/evaluate_request/frame"
# A result seed: a PSR2 frame with one block of the compressed size (919 values of 12 bits).
python3 -c 'import os, sys; sys.stdout.buffer.write(b"PSR2"+bytes(48)+bytes([1,0])+(1379).to_bytes(4,"little")+os.urandom(1379))' \
  > "$seeds/evaluation_result/frame"
for v in v1 v2; do
  cp "models/cvd-lr/$v/model.json" "$seeds/model_json/shipped-$v.json"
  { cat "models/cvd-lr/$v/model.json.minisig"; printf '\0'; cat "models/cvd-lr/$v/model.json"; } \
    > "$seeds/model_signature/shipped-$v"
done
cp examples/patients.csv "$seeds/batch_reader/examples.csv"
printf '{"patient_id":"J1","age":55,"told_high_bp":true}\n' > "$seeds/batch_reader/line.jsonl"
printf '[{"patient_id":"A1","age":40}]' > "$seeds/batch_reader/array.json"
# --workspace, not -p: the same feature set as the test build, so tfhe is not rebuilt.
cargo build -q --workspace
printf 'fuzz seed password 1\n' > "$seeds/pw"
./target/debug/pulsecure init --data-dir "$seeds/data" --kdf-memory-mib 19 --kdf-iterations 2 \
  --password-file "$seeds/pw" >/dev/null
cp "$seeds/data/vault.psv" "$seeds/vault_file/fresh.psv"

cd fuzz
for target in "${TARGETS[@]}"; do
  mkdir -p "corpus/$target"
  echo "== $target: ${SECONDS_PER_TARGET}s"
  # FUZZ_BUILD=-O builds without debug assertions: much faster to compile (tfhe-fft alone
  # took over 25 CPU-minutes with them), at the cost of overflow checks in the fuzzed code.
  cargo fuzz run ${FUZZ_BUILD:-} -s none "$target" "corpus/$target" "$seeds/$target" -- \
    -max_total_time="$SECONDS_PER_TARGET" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 2>&1 | tee "/tmp/pulsecure-fuzz-$target.log" | grep -E '^(#[0-9]+ +DONE|stat::|==|.*(panicked|ERROR))' || true
  if ls "artifacts/$target"/crash-* >/dev/null 2>&1; then
    echo "!! $target: crash inputs in fuzz/artifacts/$target" >&2
    exit 1
  fi
done
