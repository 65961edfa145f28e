#!/usr/bin/env bash
# The whole offline flow across two parties — the evaluator (server keys and signed models
# only) and the clinician (vault, database) talking over a Unix socket: the evaluator trusts
# a publisher and installs its signed model and starts; the clinician inits, trusts and
# installs the same model, registers its server key, screens a batch (one bad row), makes a
# DP release, reads the budget and checks the database; the evaluator stops gracefully.
# Run with no network:
#   deploy/airgap-e2e.sh container BINARY   the two compose services (network_mode: none,
#                                            read-only roots, no capabilities, different
#                                            non-root uids, only the socket volume shared)
#   deploy/airgap-e2e.sh namespace BINARY   each process in a fresh network namespace
#                                            (unshare -rn), the clinician under strace: it may
#                                            open AF_UNIX sockets to the evaluator only
# BINARY is the pulsecure binary; pulsecure-evaluator is taken from beside it. Both modes
# check from inside that only the loopback interface exists. Used by .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."

mode="${1:?usage: airgap-e2e.sh container|namespace BINARY}"
binary="$(realpath "${2:?path to the pulsecure binary}")"
evaluator_binary="$(dirname "$binary")/pulsecure-evaluator"
work="$(mktemp -d /tmp/pulsecure-airgap.XXXXXX)"
project="pulsecure-e2e-$$"
evaluator_pid=""
cleanup() {
  if [ "$mode" = container ]; then
    docker-compose -p "$project" -f deploy/compose.yaml down -v >/dev/null 2>&1 || true
    for v in data evaluator socket; do docker volume rm "$project-$v" >/dev/null 2>&1 || true; done
  fi
  if [ -n "$evaluator_pid" ]; then kill "$evaluator_pid" 2>/dev/null || true; fi
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
sed 's/"version": 3,/"version": 4,/' models/cvd-lr/v3/model.json > "$work/input/release/model.json"
"$binary" model sign --secret-key "$work/publisher/secret.key" \
  --password-file "$work/publisher/password" "$work/input/release/model.json" >/dev/null
{ cat examples/patients.csv; echo "BAD-ROW,0,55,1,999,0,1,1"; } > "$work/input/batch.csv"
chmod -R a+rX "$work/input"

# --- how to run each party in each mode --------------------------------------------------
case "$mode" in
  container)
    export PULSECURE_INPUT="$work/input" PULSECURE_SECRETS="$work/secrets"
    export PULSECURE_IMAGE="${PULSECURE_IMAGE:-pulsecure:test}" PULSECURE_VOLUME="$project-data"
    export PULSECURE_EVALUATOR_IMAGE="${PULSECURE_EVALUATOR_IMAGE:-${PULSECURE_IMAGE%%:*}-evaluator:${PULSECURE_IMAGE#*:}}"
    export PULSECURE_EVALUATOR_VOLUME="$project-evaluator" PULSECURE_SOCKET_VOLUME="$project-socket"
    IN=/input; PW=/run/secrets/password
    # The password file belongs to the clinician's user only (uid 10001, mode 0400), not
    # world-readable on the host.
    chown 10001:10001 "$work/secrets/password" || fail "cannot give the password file to uid 10001 (run as root)"
    chmod 0400 "$work/secrets/password"
    compose() { docker-compose -p "$project" -f deploy/compose.yaml "$@"; }
    config="$(compose config)"
    [ "$(grep -c 'mem_limit: ' <<<"$config")" = 2 ] || fail "a compose service has no memory limit"
    [ "$(grep -c 'pids_limit: ' <<<"$config")" = 2 ] || fail "a compose service has no pids limit"
    modes="$(awk '/network_mode:/ {print $2}' <<<"$config" | sort -u)"
    [ "$modes" = none ] || fail "compose network modes: $modes"
    evaluator_section="$(awk '/^  [a-z-]+:$/ {inside = ($1 == "evaluator:")} inside' <<<"$config")"
    grep -q 'pulsecure-socket' <<<"$evaluator_section" || fail "could not read the evaluator service's volumes"
    if grep -qE 'pulsecure-data|target: /data$' <<<"$evaluator_section"; then
      fail "the evaluator service can see the clinician's data volume"
    fi
    pulsecure() { compose run --rm -T clinician "$@"; }
    evaluator() { compose run --rm -T evaluator "$@"; }
    start_evaluator() { compose up -d evaluator >/dev/null; }
    stop_evaluator() {
      compose stop -t 60 evaluator >/dev/null
      code="$(docker inspect --format '{{.State.ExitCode}}' "$(compose ps -q evaluator)")"
      [ "$code" = 0 ] || fail "the evaluator stopped with exit code $code"
    }
    ;;
  namespace)
    command -v strace >/dev/null || fail "strace is not installed"
    [ -x "$evaluator_binary" ] || fail "no evaluator binary at $evaluator_binary"
    export PULSECURE_DATA_DIR="$work/data" PULSECURE_EVALUATOR_DATA_DIR="$work/evaluator"
    mkdir -m 0700 "$work/run"
    socket="$work/run/evaluator.sock"
    export PULSECURE_EVALUATOR="unix:$socket"
    IN="$work/input"; PW="$work/secrets/password"
    pulsecure() {
      unshare -rn strace -f -qq -s 256 -e trace=network -o "$(mktemp "$work/strace-XXXXXX.log")" "$binary" "$@"
    }
    evaluator() { unshare -rn "$evaluator_binary" "$@"; }
    start_evaluator() {
      unshare -rn "$evaluator_binary" serve --listen "unix:$socket" 2>"$work/evaluator.log" &
      evaluator_pid=$!
    }
    stop_evaluator() {
      kill -TERM "$evaluator_pid"
      code=0; wait "$evaluator_pid" || code=$?
      evaluator_pid=""
      [ "$code" = 0 ] || fail "the evaluator stopped with exit code $code: $(tail -3 "$work/evaluator.log")"
    }
    ;;
  *) fail "unknown mode $mode" ;;
esac

# --- the flow ----------------------------------------------------------------------------
info="$(pulsecure info)"
grep -q 'network *lo (loopback only: air-gapped)' <<<"$info" || fail "interfaces other than lo: $(grep network <<<"$info")"
# The evaluator's operator trusts the publisher and installs the same signed release.
evaluator trust-key "$IN/publisher.pub" >/dev/null
evaluator install-model "$IN/release/model.json" | grep -q "cvd-lr v4: Installed" || fail "evaluator install-model"
start_evaluator
pulsecure init --kdf-memory-mib 19 --kdf-iterations 2 --password-file "$PW" >/dev/null
pulsecure model trust-key "$IN/publisher.pub" --label "e2e publisher" --password-file "$PW" >/dev/null
pulsecure model install "$IN/release/model.json" --password-file "$PW" | grep -q "installed model cvd-lr version 4" \
  || fail "model install"
# The evaluator may still be starting: registration retries for up to 60 s.
registered=""
for _ in $(seq 60); do
  if pulsecure keys register --password-file "$PW" >"$work/register.out" 2>&1; then registered=1; break; fi
  sleep 1
done
[ -n "$registered" ] || fail "keys register: $(cat "$work/register.out")"
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
[ "$versions" = 4 ] || fail "screened with model version(s) '$versions', expected the installed 4"
# A release covers the screenings made before the current second.
sleep 1
pulsecure stats count --epsilon 0.1 --yes --password-file "$PW" >/dev/null
pulsecure stats budget --password-file "$PW" | grep -q 0.9 || fail "budget after one release"
pulsecure db check --password-file "$PW" >/dev/null
stop_evaluator

if [ "$mode" = container ]; then
  for image in "$PULSECURE_IMAGE:10001:10000" "$PULSECURE_EVALUATOR_IMAGE:10002:10000"; do
    name="${image%:*:*}"; want="${image#"$name":}"
    user="$(docker image inspect "$name" --format '{{.Config.User}}')"
    [ "$user" = "$want" ] || fail "$name runs as '$user', not $want"
    if docker run --rm --network none --entrypoint /bin/sh "$name" -c true >/dev/null 2>&1; then
      fail "$name contains a shell"
    fi
  done
  if docker run --rm --network none --entrypoint /usr/local/bin/pulsecure "$PULSECURE_EVALUATOR_IMAGE" --help >/dev/null 2>&1; then
    fail "the evaluator image contains the clinician's program"
  fi
  echo "images: clinician runs as 10001:10000, evaluator as 10002:10000 without the clinician's program; no /bin/sh"
fi

if [ "$mode" = namespace ]; then
  cat "$work"/strace-*.log > "$work/strace.log"
  if grep -E 'AF_INET|AF_INET6|AF_PACKET|AF_NETLINK' "$work/strace.log"; then
    fail "a network socket was opened (see above)"
  fi
  if grep -E '(^|[^_])socket\(' "$work/strace.log" | grep -v 'socket(AF_UNIX'; then
    fail "a socket other than AF_UNIX was opened (see above)"
  fi
  if grep -E 'connect\(' "$work/strace.log" | grep -vF "sun_path=\"$socket\""; then
    fail "a connection to something other than the evaluator's socket (see above)"
  fi
  connects="$(grep -cE 'connect\(' "$work/strace.log" || true)"
  [ "$connects" -ge 2 ] || fail "the clinician never reached the evaluator ($connects connects)"
  runs="$(ls "$work"/strace-*.log | wc -l)"
  [ "$runs" -ge 8 ] || fail "only $runs traced runs"
  echo "strace: $(grep -c . "$work/strace.log" || true) network-class syscalls in $runs traced runs; only AF_UNIX sockets, $connects connects, all to $socket"
fi
echo "airgap e2e ($mode): info saw only lo; evaluator trust-key + install v4; init, trust-key, install v4, keys register, batch through the evaluator (6 screened, 1 rejected), DP release, budget, db check, evaluator stopped cleanly: ok"
