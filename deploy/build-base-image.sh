#!/usr/bin/env bash
# Build the container base image locally, since no registry can be reached: a minimal
# Debian bookworm root made with debootstrap, imported into Docker as
# `pulsecure/debian-base:bookworm` (the tag deploy/Dockerfile starts from).
#
# Needs root (debootstrap), the Debian mirror (package downloads only) and a Docker engine.
# Re-running is cheap: an existing image with that tag is kept unless FORCE=1.
set -euo pipefail

TAG="${PULSECURE_BASE_TAG:-pulsecure/debian-base:bookworm}"
SUITE="${PULSECURE_BASE_SUITE:-bookworm}"
MIRROR="${PULSECURE_BASE_MIRROR:-http://deb.debian.org/debian}"

if [ "${FORCE:-0}" != 1 ] && docker image inspect "$TAG" >/dev/null 2>&1; then
  echo "base image $TAG already present (FORCE=1 rebuilds it)"
  exit 0
fi

if ! command -v debootstrap >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq debootstrap >/dev/null
fi

root="$(mktemp -d /tmp/pulsecure-base.XXXXXX)"
trap 'rm -rf "$root"' EXIT
echo "debootstrap --variant=minbase $SUITE into $root"
debootstrap --variant=minbase "$SUITE" "$root" "$MIRROR" >/dev/null
# Nothing in the image needs the package lists or caches.
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*
tar --numeric-owner -C "$root" -c . | docker import \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  - "$TAG" >/dev/null
echo "imported $TAG ($(docker image inspect --format '{{.Size}}' "$TAG") bytes)"
