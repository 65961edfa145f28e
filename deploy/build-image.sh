#!/usr/bin/env bash
# Build the `pulsecure` runtime image from a built binary (default: the release build).
#   deploy/build-image.sh [path/to/pulsecure] [tag]
# The image holds exactly the binary that was built and tested on this machine.
set -euo pipefail
cd "$(dirname "$0")/.."

binary="${1:-target/release/pulsecure}"
tag="${2:-pulsecure:latest}"
if [ ! -x "$binary" ]; then
  echo "no binary at $binary: run 'cargo build --release -p pulsecure-cli' first" >&2
  exit 1
fi
./deploy/build-base-image.sh
context="$(mktemp -d /tmp/pulsecure-image.XXXXXX)"
trap 'rm -rf "$context"' EXIT
cp deploy/Dockerfile "$context/"
cp "$binary" "$context/pulsecure"
docker build -q -t "$tag" "$context" >/dev/null
echo "built $tag ($(docker image inspect --format '{{.Size}}' "$tag") bytes)"
