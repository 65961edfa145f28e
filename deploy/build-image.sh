#!/usr/bin/env bash
# Build the two runtime images from built binaries (default: the release build):
#   deploy/build-image.sh [path/to/pulsecure] [tag]
# makes `tag` (the clinician's program, uid 10001) and `tag` with `-evaluator` appended to its
# repository (pulsecure:test -> pulsecure-evaluator:test; the evaluator, uid 10002) from
# pulsecure-evaluator found beside the given pulsecure binary. Each image holds exactly the
# binary that was built and tested on this machine, and only that one.
set -euo pipefail
cd "$(dirname "$0")/.."

binary="${1:-target/release/pulsecure}"
tag="${2:-pulsecure:latest}"
evaluator="$(dirname "$binary")/pulsecure-evaluator"
for b in "$binary" "$evaluator"; do
  if [ ! -x "$b" ]; then
    echo "no binary at $b: run 'cargo build --release --workspace' first" >&2
    exit 1
  fi
done
evaluator_tag="${tag%%:*}-evaluator:${tag#*:}"
./deploy/build-base-image.sh
context="$(mktemp -d /tmp/pulsecure-image.XXXXXX)"
trap 'rm -rf "$context"' EXIT
cp deploy/Dockerfile "$context/"
cp "$binary" "$context/program"
docker build -q --build-arg PROGRAM=pulsecure --build-arg USER_ID=10001 -t "$tag" "$context" >/dev/null
cp "$evaluator" "$context/program"
docker build -q --build-arg PROGRAM=pulsecure-evaluator --build-arg USER_ID=10002 \
  -t "$evaluator_tag" "$context" >/dev/null
for t in "$tag" "$evaluator_tag"; do
  echo "built $t ($(docker image inspect --format '{{.Size}}' "$t") bytes)"
done
