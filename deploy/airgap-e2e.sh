#!/usr/bin/env bash
# The whole offline flow — init, trust a publisher, install a signed model, screen a batch
# (one bad row), a DP release, the budget, a database check — run with no network:
#   deploy/airgap-e2e.sh container BINARY   in the compose service (network_mode: none,
#                                            read-only root, no capabilities, non-root)
#   deploy/airgap-e2e.sh namespace BINARY   in a fresh network namespace (unshare -rn)
#                                            under strace: no inet socket may be opened
# Both check from inside that only the loopback interface exists. Used by .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."

mode="${1:?usage: airgap-e2e.sh container|namespace BINARY}"
binary="$(realpath "${2:?path to the pulsecure binary}")"
work="$(mktemp -d /tmp/pulsecure-airgap.XXXXXX)"
project="pulsecure-e2e-$$"
cleanup() {
  if [ "$mode" = container ]; then
    docker-compose -p "$project" -f deploy/compose.yaml down -v >/dev/null 2>&1 || true
    docker volume rm "$project-data" >/dev/null 2>&1 || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "AIRGAP E2E FAILED ($mode): $*" >&2; exit 1; }

# --- inputs, prepared on the host (a publisher's machine and the clinic's files) ---------
mkdir -p "$work/input/release" "$work/secrets" "$work/publisher"
printf 'airgap e2e password 1\n' > "$work/secrets/password"
printf 'publisher e2e password 1\n' > "$work/publisher/password"
chmod 0600 "$work/secrets/password"
"$binary" model keygen --public-key "$work/input/publisher.pub" \
  --secret-key "$work/publisher/secret.key" --password-file "$work/publisher/password" >/dev/null
sed 's/"version": 1,/"version": 2,/' models/cvd-lr/v1/model.json > "$work/input/release/model.json"
"$binary" model sign --secret-key "$work/publisher/secret.key" \
  --password-file "$work/publisher/password" "$work/input/release/model.json" >/dev/null
{ cat examples/patients.csv; echo "BAD-ROW,55,1,999,0,1.0,100,0,200,1"; } > "$work/input/batch.csv"
chmod -R a+rX "$work/input"

# --- how to run pulsecure in each mode ---------------------------------------------------
case "$mode" in
  container)
    export PULSECURE_INPUT="$work/input" PULSECURE_SECRETS="$work/secrets"
    export PULSECURE_IMAGE="${PULSECURE_IMAGE:-pulsecure:test}" PULSECURE_VOLUME="$project-data"
    IN=/input; PW=/run/secrets/password
    # The password file belongs to the container's user only (uid 10001, mode 0400), not
    # world-readable on the host.
    chown 10001:10001 "$work/secrets/password" || fail "cannot give the password file to uid 10001 (run as root)"
    chmod 0400 "$work/secrets/password"
    config="$(docker-compose -p "$project" -f deploy/compose.yaml config)"
    grep -Eq 'mem_limit: ' <<<"$config" || fail "the compose service has no memory limit"
    grep -Eq 'pids_limit: ' <<<"$config" || fail "the compose service has no pids limit"
    mode_of_network="$(docker-compose -p "$project" -f deploy/compose.yaml config | awk '/network_mode:/ {print $2}')"
    [ "$mode_of_network" = none ] || fail "compose network_mode is '$mode_of_network'"
    pulsecure() { docker-compose -p "$project" -f deploy/compose.yaml run --rm -T pulsecure "$@"; }
    ;;
  namespace)
    command -v strace >/dev/null || fail "strace is not installed"
    export PULSECURE_DATA_DIR="$work/data"
    IN="$work/input"; PW="$work/secrets/password"
    pulsecure() {
      unshare -rn strace -f -qq -e trace=network -o "$(mktemp "$work/strace-XXXXXX.log")" "$binary" "$@"
    }
    ;;
  *) fail "unknown mode $mode" ;;
esac

# --- the flow ----------------------------------------------------------------------------
info="$(pulsecure info)"
grep -q 'network *lo (loopback only: air-gapped)' <<<"$info" || fail "interfaces other than lo: $(grep network <<<"$info")"
pulsecure init --kdf-memory-mib 19 --kdf-iterations 2 --password-file "$PW" >/dev/null
pulsecure model trust-key "$IN/publisher.pub" --label "e2e publisher" --password-file "$PW" >/dev/null
pulsecure model install "$IN/release/model.json" --password-file "$PW" | grep -q "installed model cvd-lr version 2" \
  || fail "model install"
set +e
results="$(pulsecure screen --batch "$IN/batch.csv" --format csv --password-file "$PW" 2>"$work/screen.err")"
code=$?
set -e
[ "$code" = 3 ] || fail "batch exit code $code (expected 3: one bad row); $(cat "$work/screen.err")"
screened="$(grep -c ',screened,' <<<"$results" || true)"
[ "$screened" = 6 ] || fail "$screened rows screened (expected 6)"
grep -q 'row 8, column systolic_bp' "$work/screen.err" || fail "the bad row was not reported: $(cat "$work/screen.err")"
version_column="$(head -1 <<<"$results" | tr ',' '\n' | grep -nx 'model_version' | cut -d: -f1)"
versions="$(grep ',screened,' <<<"$results" | cut -d, -f"$version_column" | sort -u)"
[ "$versions" = 2 ] || fail "screened with model version(s) '$versions', expected the installed 2"
# A release covers the screenings made before the current second.
sleep 1
pulsecure stats count --epsilon 0.1 --yes --password-file "$PW" >/dev/null
pulsecure stats budget --password-file "$PW" | grep -q 0.9 || fail "budget after one release"
pulsecure db check --password-file "$PW" >/dev/null

if [ "$mode" = container ]; then
  user="$(docker image inspect "$PULSECURE_IMAGE" --format '{{.Config.User}}')"
  [ "$user" = "10001:10001" ] || fail "the image runs as '$user', not the unprivileged 10001"
  if docker run --rm --network none --entrypoint /bin/sh "$PULSECURE_IMAGE" -c true >/dev/null 2>&1; then
    fail "the image contains a shell"
  fi
  echo "image: runs as 10001:10001, has no /bin/sh"
fi

if [ "$mode" = namespace ]; then
  cat "$work"/strace-*.log > "$work/strace.log"
  if grep -E 'AF_INET|AF_INET6|AF_PACKET|connect\(' "$work/strace.log"; then
    fail "a network socket was opened (see above)"
  fi
  runs="$(ls "$work"/strace-*.log | wc -l)"
  [ "$runs" -ge 8 ] || fail "only $runs traced runs"
  echo "strace: $(grep -c . "$work/strace.log" || true) network-class syscalls in $runs traced runs; none AF_INET/AF_INET6/AF_PACKET, no connect"
fi
echo "airgap e2e ($mode): info saw only lo; init, trust-key, install v2, batch (6 screened, 1 rejected), DP release, budget, db check: ok"
