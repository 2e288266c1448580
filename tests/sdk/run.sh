#!/usr/bin/env bash
# Official-SDK compatibility tests for ferrohub.
#
#   tests/sdk/run.sh [python] [node] [paho]     (default: all three, in that order)
#
# Installs the SDKs into local folders when missing or stale (Python venv in
# tests/sdk/python/.venv, npm packages in tests/sdk/node/node_modules), starts
# ONE `ferrohub serve` (MQTT/TLS 8883, HTTPS 443, so it needs root) on a fresh
# temporary data dir, runs the suites one after another, then stops the server
# with SIGTERM and checks that it exited 0.
#
# Environment:
#   FERROHUB_BIN          ferrohub binary (default: <repo>/target/debug/ferrohub)
#   SDK_SKIP_INSTALL=1    do not touch the venv / node_modules
#   PYTEST_ARGS           extra pytest arguments (e.g. "-k telemetry -x")
#   NODE_TEST_ARGS        extra `node --test` arguments
# Exported to the suites: FERROHUB_BIN FERROHUB_DATA_DIR FERROHUB_CA
#   IOTHUB_CONNECTION_STRING REQUESTS_CA_BUNDLE NODE_EXTRA_CA_CERTS
set -euo pipefail

SDK_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_DIR="$(cd "$SDK_DIR/../.." && pwd)"
PY_DIR="$SDK_DIR/python"
NODE_DIR="$SDK_DIR/node"
PAHO_DIR="$SDK_DIR/paho"
VENV="$PY_DIR/.venv"

log() { printf '[sdk] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

SUITES=("$@")
if [ "${#SUITES[@]}" -eq 0 ]; then SUITES=(python node paho); fi
for s in "${SUITES[@]}"; do
  case "$s" in python|node|paho) ;; *) die "unknown suite '$s' (python|node|paho)";; esac
done
want() { local s; for s in "${SUITES[@]}"; do [ "$s" = "$1" ] && return 0; done; return 1; }

hash_of() { cat "$@" | sha256sum | cut -d' ' -f1; }

# ---------------------------------------------------------------- installs
install_python() {
  local stamp="$VENV/.ferrohub-stamp" want_hash
  want_hash="$(hash_of "$PY_DIR/requirements.txt"; python3 --version 2>&1 | sha256sum | cut -d' ' -f1)"
  want_hash="$(printf '%s' "$want_hash" | sha256sum | cut -d' ' -f1)"
  if [ -x "$VENV/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want_hash" ]; then
    return 0
  fi
  log "installing Python SDKs into $VENV"
  [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r "$PY_DIR/requirements.txt"
  printf '%s\n' "$want_hash" >"$stamp"
}

install_node() {
  local stamp="$NODE_DIR/node_modules/.ferrohub-stamp" want_hash
  want_hash="$(hash_of "$NODE_DIR/package.json" "$NODE_DIR/package-lock.json")"
  if [ -d "$NODE_DIR/node_modules" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want_hash" ]; then
    return 0
  fi
  log "installing Node SDKs into $NODE_DIR/node_modules"
  (cd "$NODE_DIR" && npm ci --no-audit --no-fund --loglevel=error)
  printf '%s\n' "$want_hash" >"$stamp"
}

if [ "${SDK_SKIP_INSTALL:-0}" != 1 ]; then
  if want python || want paho; then install_python; fi
  if want node; then install_node; fi
fi

# ---------------------------------------------------------------- server
export FERROHUB_BIN="${FERROHUB_BIN:-$REPO_DIR/target/debug/ferrohub}"
[ -x "$FERROHUB_BIN" ] || die "ferrohub binary not found at $FERROHUB_BIN (cargo build first, or set FERROHUB_BIN)"

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
for p in 8883 443; do
  if port_busy "$p"; then die "port $p is already in use; stop whatever listens there first"; fi
done

WORK_DIR="$(mktemp -d -t ferrohub-sdk.XXXXXX)"
DATA_DIR="$WORK_DIR/data"
SERVER_LOG="$WORK_DIR/server.log"
SERVER_PID=""
FAILED=()

print_server_log() {
  log "---- server log ($SERVER_LOG) ----"
  cat "$SERVER_LOG" >&2 2>/dev/null || true
  log "---- end of server log ----"
}

cleanup() {
  local rc=$? server_rc=0 i
  trap - EXIT INT TERM
  if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
    log "stopping ferrohub (pid $SERVER_PID) with SIGTERM"
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    for i in $(seq 1 300); do   # up to 30 s
      kill -0 "$SERVER_PID" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$SERVER_PID" 2>/dev/null; then
      log "ferrohub did not exit within 30 s of SIGTERM; killing it"
      kill -KILL "$SERVER_PID" 2>/dev/null || true
      wait "$SERVER_PID" 2>/dev/null || true
      server_rc=124
    else
      wait "$SERVER_PID" 2>/dev/null || server_rc=$?
    fi
    if [ "$server_rc" -ne 0 ]; then
      log "FAIL: ferrohub exited with status $server_rc after SIGTERM (expected 0)"
      [ "$rc" -ne 0 ] || rc=1
    fi
  fi
  if [ "$rc" -ne 0 ]; then
    print_server_log
    log "kept $WORK_DIR for inspection"
  else
    rm -rf "$WORK_DIR"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

log "starting $FERROHUB_BIN serve --data-dir $DATA_DIR --hostname localhost"
"$FERROHUB_BIN" serve --data-dir "$DATA_DIR" --hostname localhost >"$SERVER_LOG" 2>&1 &
SERVER_PID=$!

export FERROHUB_DATA_DIR="$DATA_DIR"
export FERROHUB_CA="$DATA_DIR/ca.pem"

deadline=$((SECONDS + 60))
until [ -s "$FERROHUB_CA" ] && curl -fsS -o /dev/null --max-time 5 --cacert "$FERROHUB_CA" https://localhost:443/health 2>/dev/null; do
  if ! kill -0 "$SERVER_PID" 2>/dev/null; then
    wait "$SERVER_PID" 2>/dev/null && rc=0 || rc=$?
    SERVER_PID=""
    die "ferrohub exited (status $rc) before becoming ready"
  fi
  if [ "$SECONDS" -ge "$deadline" ]; then
    die "ferrohub not ready within 60 s (GET https://localhost:443/health with --cacert $FERROHUB_CA)"
  fi
  sleep 0.2
done
log "ferrohub is ready"

IOTHUB_CONNECTION_STRING="$("$FERROHUB_BIN" hub connection-string)"
[[ "$IOTHUB_CONNECTION_STRING" == HostName=*SharedAccessKeyName=*SharedAccessKey=* ]] \
  || die "unexpected output of 'ferrohub hub connection-string': $IOTHUB_CONNECTION_STRING"
export IOTHUB_CONNECTION_STRING
export REQUESTS_CA_BUNDLE="$FERROHUB_CA"   # Python service SDK (msrest/requests)
export NODE_EXTRA_CA_CERTS="$FERROHUB_CA"  # Node service SDK (https)

# ---------------------------------------------------------------- suites
run_python() {
  (cd "$PY_DIR" && "$VENV/bin/python" -m pytest -q ${PYTEST_ARGS:-})
}

run_node() {
  # One test file at a time; tests share the server and its fixed ports.
  (cd "$NODE_DIR" && node --test --test-concurrency=1 --test-force-exit ${NODE_TEST_ARGS:-} ./*.test.js)
}

# NB: `set -e` does not apply inside a function called as an `if` condition,
# hence the explicit `|| return 1`.
run_paho() {
  local device_id token events_file deadline rc
  device_id="paho-$(cat /proc/sys/kernel/random/uuid | cut -c1-12)"
  "$FERROHUB_BIN" device create "$device_id" >/dev/null || return 1
  token="$("$FERROHUB_BIN" sas-token --device "$device_id")" || return 1
  [[ "$token" == "SharedAccessSignature sr="* ]] || { log "unexpected sas-token output: $token"; return 1; }

  log "paho seed sample as $device_id"
  if ! FERROHUB_DEVICE_ID="$device_id" FERROHUB_SAS_TOKEN="$token" \
      timeout 60 "$VENV/bin/python" "$PAHO_DIR/seed_sample.py"; then
    log "seed_sample.py failed (or timed out after 60 s)"
    return 1
  fi

  events_file="$WORK_DIR/paho-events.jsonl"
  deadline=$((SECONDS + 30))
  while :; do
    "$FERROHUB_BIN" monitor --device "$device_id" --from earliest --timeout 3 --json >"$events_file" || return 1
    if "$VENV/bin/python" - "$events_file" "$device_id" <<'EOF'
import json, sys
path, device_id = sys.argv[1], sys.argv[2]
events = [json.loads(l) for l in open(path) if l.strip()]
if not events:
    sys.exit(3)  # not visible yet: poll again
assert len(events) == 1, f"expected exactly one event, got {events}"
e = events[0]
assert e["deviceId"] == device_id, e
assert e.get("moduleId") is None, e
assert e["body"] == "{id=123}", e  # no content type: body is the raw string
assert e["properties"] == {}, e
sp = e["systemProperties"]
assert sp["iothub-connection-device-id"] == device_id, e
assert sp["iothub-message-source"] == "Telemetry", e
print("[sdk] paho event verified:", json.dumps(e), file=sys.stderr)
EOF
    then
      break
    else
      rc=$?
      if [ "$rc" -ne 3 ] || [ "$SECONDS" -ge "$deadline" ]; then
        log "paho telemetry not verified (see above; events in $events_file)"
        return 1
      fi
    fi
  done
  "$FERROHUB_BIN" device delete "$device_id" >/dev/null || return 1
}

for suite in "${SUITES[@]}"; do
  log "==== suite: $suite ===="
  if "run_$suite"; then
    log "==== suite $suite: PASS ===="
  else
    log "==== suite $suite: FAIL ===="
    FAILED+=("$suite")
  fi
done

if [ "${#FAILED[@]}" -ne 0 ]; then
  log "FAILED suites: ${FAILED[*]}"
  exit 1
fi
log "all suites passed: ${SUITES[*]}"
