#!/usr/bin/env bash
# Measures ferrohub and Mosquitto side by side on this machine with ferrohub-bench:
# QoS 1 telemetry over TLS (in flight 1 and 16) and many idle TLS connections; then
# ferrohub's device features, which Mosquitto has no equivalent of: twin requests over
# MQTT, direct methods (REST -> device -> REST) and cloud-to-device messages.
#
# Usage: scripts/bench.sh
# Knobs (environment): DEVICES MESSAGES SIZE IDLE_DEVICES HOLD BENCH_RESULTS CARGO_TARGET_DIR,
# BENCH_WORKDIR (default /tmp; holds ferrohub's data directory),
# TWIN_DEVICES TWIN_OPS TWIN_INFLIGHT, METHOD_DEVICES METHOD_RATE METHOD_DURATION,
# C2D_DEVICES C2D_MESSAGES C2D_OUTSTANDING,
# ROUNDS (default 3): telemetry runs per server and window, alternating between the servers;
# the table shows each one's median round,
# SKIP_BUILD=1 to measure the release binaries already in $CARGO_TARGET_DIR/release,
# FEATURES_ONLY=1 to run only ferrohub's twin, method and C2D scenarios.
# Needs: cargo, curl, jq, mosquitto (apt-get install -y mosquitto), a Linux /proc.
# Raw results are JSON lines in $BENCH_RESULTS; a markdown table is printed at the end.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
BIN=$TARGET_DIR/release
DEVICES=${DEVICES:-100}
MESSAGES=${MESSAGES:-1000}
SIZE=${SIZE:-256}
IDLE_DEVICES=${IDLE_DEVICES:-10000}
HOLD=${HOLD:-20}
TWIN_DEVICES=${TWIN_DEVICES:-100}
TWIN_OPS=${TWIN_OPS:-1000}
TWIN_INFLIGHT=${TWIN_INFLIGHT:-8}
METHOD_DEVICES=${METHOD_DEVICES:-100}
METHOD_RATE=${METHOD_RATE:-1000}
METHOD_DURATION=${METHOD_DURATION:-10}
C2D_DEVICES=${C2D_DEVICES:-100}
C2D_MESSAGES=${C2D_MESSAGES:-200}
C2D_OUTSTANDING=${C2D_OUTSTANDING:-10}
FEATURES_ONLY=${FEATURES_ONLY:-0}
ROUNDS=${ROUNDS:-3}
FERROHUB_MQTT_PORT=18883
FERROHUB_HTTPS_PORT=18443
MOSQUITTO_PORT=18884
RESULTS=${BENCH_RESULTS:-/tmp/ferrohub-bench-$(date -u +%Y%m%dT%H%M%SZ).jsonl}

# BENCH_WORKDIR: where ferrohub's data directory (and so its telemetry log) lives; point it
# at another file system to measure how the disk's flush latency shapes the durable rate.
WORK=$(mktemp -d "${BENCH_WORKDIR:-/tmp}/ferrohub-bench.XXXXXX")
FERROHUB_PID=
MOSQUITTO_PID=
FAILED=0

stop_servers() {
    local pid
    for pid in $FERROHUB_PID $MOSQUITTO_PID; do
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    FERROHUB_PID=
    MOSQUITTO_PID=
}
cleanup() {
    stop_servers
    rm -rf "$WORK"
}
trap cleanup EXIT

tools=(curl jq)
[[ $FEATURES_ONLY == 1 ]] || tools+=(mosquitto)
for tool in "${tools[@]}"; do
    command -v "$tool" >/dev/null || { echo "bench.sh: $tool is required" >&2; exit 1; }
done

if [[ ${SKIP_BUILD:-0} != 1 ]]; then
    echo "== building release binaries (CARGO_TARGET_DIR=$TARGET_DIR)"
    (cd "$ROOT" && CARGO_TARGET_DIR=$TARGET_DIR cargo build --release -p ferrohub -p ferrohub-bench)
fi

# 10,000 connections need 10,000 descriptors in each process; both servers inherit this.
if ! ulimit -n 20000 2>/dev/null; then
    echo "bench.sh: cannot raise the open-file limit to 20000 (limit $(ulimit -n));" \
        "holding 4000 idle connections instead of $IDLE_DEVICES" >&2
    IDLE_DEVICES=4000
fi

: >"$RESULTS"

# run_bench LABEL PID ARGS...: one ferrohub-bench run against the server with that PID; its
# JSON line is appended to $RESULTS.
run_bench() {
    local label=$1 pid=$2
    shift 2
    echo "== $label"
    local line
    if line=$("$BIN/ferrohub-bench" "$@" --server-pid "$pid" --json); then
        :
    else
        echo "bench.sh: $label reported errors" >&2
        FAILED=1
    fi
    if [[ -n $line ]]; then
        echo "$line" >>"$RESULTS"
    fi
}

# flush_micros DIR: microseconds one 8 KiB write with its flush takes in DIR (500 O_DSYNC
# writes over an allocated file, as the telemetry journal does). At one message in flight
# this latency, not CPU, bounds ferrohub's durable rate, so every run reports it.
flush_micros() {
    local probe=$1/flush-probe start end
    dd if=/dev/zero of="$probe" bs=8k count=500 status=none && sync "$probe"
    start=$(date +%s%N)
    dd if=/dev/zero of="$probe" bs=8k count=500 oflag=dsync conv=notrunc status=none
    end=$(date +%s%N)
    rm -f "$probe"
    echo $(((end - start) / 500 / 1000))
}
FLUSH_MICROS=$(flush_micros "$WORK")

telemetry_args=(--devices "$DEVICES" --messages "$MESSAGES" --size "$SIZE")
idle_args=(--devices "$IDLE_DEVICES" --hold "$HOLD")

# --- ferrohub ---------------------------------------------------------------------------
DATA=$WORK/ferrohub-data
"$BIN/ferrohub" --data-dir "$DATA" serve \
    --mqtt-port "$FERROHUB_MQTT_PORT" --https-port "$FERROHUB_HTTPS_PORT" \
    >"$WORK/ferrohub.log" 2>&1 &
FERROHUB_PID=$!
for _ in $(seq 100); do
    if curl -sf --cacert "$DATA/ca.pem" "https://localhost:$FERROHUB_HTTPS_PORT/health" >/dev/null 2>&1; then
        break
    fi
    kill -0 "$FERROHUB_PID" 2>/dev/null || { cat "$WORK/ferrohub.log" >&2; exit 1; }
    sleep 0.1
done
CS=$("$BIN/ferrohub" --data-dir "$DATA" hub connection-string)
hub=(--hub-connection-string "$CS" --api-address "127.0.0.1:$FERROHUB_HTTPS_PORT"
    --mqtt-address "127.0.0.1:$FERROHUB_MQTT_PORT" --ca "$DATA/ca.pem")

# --- Mosquitto --------------------------------------------------------------------------
# The same certificate as ferrohub's (SANs localhost, 127.0.0.1), so the client is
# identical. No persistence and no subscribers: Mosquitto acknowledges and drops.
# Both servers run side by side (an idle server costs nothing) so that their telemetry
# runs can alternate: this VM's speed drifts by tens of percent within minutes, and
# alternating rounds exposes both servers to the same drift.
if [[ $FEATURES_ONLY != 1 ]]; then
    cat >"$WORK/mosquitto.conf" <<EOF
user root
persistence false
allow_anonymous true
set_tcp_nodelay true
max_queued_messages 0
log_dest stderr
log_type error
log_type warning
listener $MOSQUITTO_PORT 127.0.0.1
cafile $DATA/ca.pem
certfile $DATA/server.pem
keyfile $DATA/server-key.pem
EOF
    mosquitto -c "$WORK/mosquitto.conf" >"$WORK/mosquitto.log" 2>&1 &
    MOSQUITTO_PID=$!
    for _ in $(seq 100); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$MOSQUITTO_PORT") 2>/dev/null; then
            break
        fi
        kill -0 "$MOSQUITTO_PID" 2>/dev/null || { cat "$WORK/mosquitto.log" >&2; exit 1; }
        sleep 0.1
    done
    MOSQUITTO_VERSION=$(mosquitto -h 2>/dev/null | head -1 || true)
    broker=(--broker --mqtt-address "127.0.0.1:$MOSQUITTO_PORT" --ca "$DATA/ca.pem"
        --tls-server-name localhost)

    for round in $(seq "$ROUNDS"); do
        for inflight in 1 16; do
            run_bench "ferrohub telemetry, $inflight in flight (round $round of $ROUNDS)" \
                "$FERROHUB_PID" telemetry "${hub[@]}" "${telemetry_args[@]}" --inflight "$inflight"
            run_bench "mosquitto telemetry, $inflight in flight (round $round of $ROUNDS)" \
                "$MOSQUITTO_PID" telemetry "${broker[@]}" "${telemetry_args[@]}" --inflight "$inflight"
        done
    done
fi
run_bench "ferrohub twin" "$FERROHUB_PID" twin "${hub[@]}" --devices "$TWIN_DEVICES" \
    --ops "$TWIN_OPS" --inflight "$TWIN_INFLIGHT"
run_bench "ferrohub method" "$FERROHUB_PID" method "${hub[@]}" --devices "$METHOD_DEVICES" \
    --rate "$METHOD_RATE" --duration "$METHOD_DURATION"
run_bench "ferrohub c2d" "$FERROHUB_PID" c2d "${hub[@]}" --devices "$C2D_DEVICES" \
    --messages "$C2D_MESSAGES" --outstanding "$C2D_OUTSTANDING"
if [[ $FEATURES_ONLY != 1 ]]; then
    run_bench "ferrohub idle" "$FERROHUB_PID" idle "${hub[@]}" "${idle_args[@]}"
    run_bench "mosquitto idle" "$MOSQUITTO_PID" idle "${broker[@]}" "${idle_args[@]}"
fi
stop_servers

# ferrohub's device-feature table, printed at the end (the only table with FEATURES_ONLY=1).
features_table() {
    echo
    echo "ferrohub device features (twin: $TWIN_DEVICES devices x $TWIN_OPS requests, $TWIN_INFLIGHT in flight;" \
        "method: $METHOD_DEVICES devices, $METHOD_RATE calls/s for $METHOD_DURATION s;" \
        "c2d: $C2D_DEVICES devices x $C2D_MESSAGES messages, $C2D_OUTSTANDING outstanding)"
    echo
    echo "| scenario | completed | ops/s | target/s | latency | p50 ms | p99 ms | max ms | server CPU µs/op | wall s | server CPU s | bench CPU s | failed | errors |"
    echo "|---|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    jq -r 'select(.operations != null) | . as $r | .operations as $o | [.scenario, $o.completed,
        ($o.per_second | floor), ($o.target_per_second // "-"), $o.latency_name,
        (($o.latency_us.p50 // 0) / 10 | round / 100), (($o.latency_us.p99 // 0) / 10 | round / 100),
        (($o.latency_us.max // 0) / 10 | round / 100),
        (($r.server.cpu_us_per_message // 0) * 10 | round / 10),
        ($o.seconds * 100 | round / 100),
        (($r.server.publish_cpu_seconds // 0) * 100 | round / 100),
        (($r.bench_cpu_seconds // 0) * 100 | round / 100),
        $o.failed, $r.errors.total] | "| " + (map(tostring) | join(" | ")) + " |"' "$RESULTS"
    echo
    echo "| scenario | part | p50 ms | p99 ms | max ms | samples |"
    echo "|---|---|---:|---:|---:|---:|"
    jq -r 'select(.operations != null) | .scenario as $s | .operations.breakdown_us
        | to_entries[] | [$s, .key, (.value.p50 / 10 | round / 100), (.value.p99 / 10 | round / 100),
        (.value.max / 10 | round / 100), .value.count] | "| " + (map(tostring) | join(" | ")) + " |"' "$RESULTS"
}

if [[ $FEATURES_ONLY == 1 ]]; then
    echo
    echo "Machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
    echo "Date: $(date -u +%Y-%m-%d)"
    echo "Disk: an 8 KiB write with its flush takes $FLUSH_MICROS µs in ${BENCH_WORKDIR:-/tmp} (ferrohub's data directory)"
    features_table
    echo
    echo "Raw results: $RESULTS"
    exit "$FAILED"
fi

# --- Table ------------------------------------------------------------------------------
TARGET_NAMES='if .target == "broker" then "Mosquitto" else .target end'
echo
echo "Machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'); $MOSQUITTO_VERSION"
echo "Date: $(date -u +%Y-%m-%d)"
echo "Disk: an 8 KiB write with its flush takes $FLUSH_MICROS µs in ${BENCH_WORKDIR:-/tmp} (ferrohub's data directory)"
echo
echo "QoS 1 telemetry over TLS, $DEVICES devices x $MESSAGES messages x $SIZE B"
echo
# One row per server and window: the median round by acked rate (every round's rate listed).
MEDIAN_RUNS='[.[] | select(.scenario == "telemetry")] | group_by([.inflight, .target != "ferrohub"])[]
    | sort_by(.acked_per_second) | {rates: map(.acked_per_second | floor), median: .[length / 2 | floor]}'
echo "| server | in flight | rounds, acked msg/s | median acked msg/s | PUBACK p50 ms | PUBACK p99 ms | server CPU µs/msg | of it kernel µs | wall s | server CPU s | bench CPU s | connects/s | peak RSS MiB | errors |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
jq -rs "$MEDIAN_RUNS | .rates as \$rates | .median | [($TARGET_NAMES), .inflight,
    (\$rates | map(tostring) | join(\" / \")),
    (.acked_per_second | floor),
    (.puback_latency_us.p50 // 0) / 1000, (.puback_latency_us.p99 // 0) / 1000,
    ((.server.cpu_us_per_message // 0) * 10 | round / 10),
    (if (.server.publish_cpu_seconds // 0) > 0 then ((.server.cpu_us_per_message * .server.publish_kernel_cpu_seconds / .server.publish_cpu_seconds) * 10 | round / 10) else 0 end),
    (.publish_seconds * 100 | round / 100),
    ((.server.publish_cpu_seconds // 0) * 100 | round / 100),
    ((.bench_cpu_seconds // 0) * 100 | round / 100),
    (.connects_per_second | floor),
    ((.server.peak_rss_kib // 0) / 1024 | floor),
    .errors.total] | \"| \" + (map(tostring) | join(\" | \")) + \" |\"" "$RESULTS"
echo
jq -rs '[.[] | select(.scenario == "telemetry")] | group_by(.inflight)[]
    | map({target, inflight, rate: .acked_per_second}) | group_by(.target)
    | map(sort_by(.rate) | {target: .[0].target, inflight: .[0].inflight, median: .[length / 2 | floor].rate})
    | (map(select(.target == "ferrohub"))[0]) as $f | (map(select(.target == "broker"))[0]) as $m
    | select($f != null and $m != null and $m.median > 0)
    | "ferrohub / Mosquitto at \($f.inflight) in flight (medians): \($f.median / $m.median * 100 | round / 100)x"' "$RESULTS"
echo
echo "Idle TLS connections, held $HOLD s"
echo
echo "| server | connections | connects/s | RSS before MiB | RSS connected MiB | KiB per connection | errors |"
echo "|---|---:|---:|---:|---:|---:|---:|"
jq -r "select(.scenario == \"idle\") | [($TARGET_NAMES), .connected,
    (.connects_per_second | floor),
    ((.server.rss_before_kib // 0) / 1024 | floor),
    ((.server.rss_connected_kib // 0) / 1024 | floor),
    ((.server.rss_per_connection_bytes // 0) / 1024 * 100 | round / 100),
    .errors.total] | \"| \" + (map(tostring) | join(\" | \")) + \" |\"" "$RESULTS"
features_table
echo
echo "Raw results: $RESULTS"
exit "$FAILED"
