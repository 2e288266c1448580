"""Helpers shared by the Python SDK compatibility tests (fixtures live in conftest.py)."""

import json
import os
import queue
import subprocess
import time
import uuid

import pytest


def env(name):
    value = os.environ.get(name)
    if not value:
        pytest.exit(f"environment variable {name} is not set; run tests/sdk/run.sh", returncode=2)
    return value


def parse_connection_string(cs):
    parts = {}
    for item in cs.split(";"):
        if item:
            key, _, value = item.partition("=")
            parts[key] = value
    return parts


def unique_id(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def device_connection_string(hostname, device):
    key = device.authentication.symmetric_key.primary_key
    return f"HostName={hostname};DeviceId={device.device_id};SharedAccessKey={key}"


def module_connection_string(hostname, module):
    key = module.authentication.symmetric_key.primary_key
    return (
        f"HostName={hostname};DeviceId={module.device_id};"
        f"ModuleId={module.module_id};SharedAccessKey={key}"
    )


def ferrohub(*args, timeout=60):
    """Run a ferrohub CLI command against the server's data dir (FERROHUB_DATA_DIR)
    and return its stdout; a non-zero exit fails the test."""
    cmd = [env("FERROHUB_BIN"), *[str(a) for a in args]]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, (
        f"{' '.join(cmd)} exited {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    )
    return proc.stdout


def c2d_send(device_id, data, *, properties=None, message_id=None, correlation_id=None,
             content_type=None, content_encoding=None, ack=None, ttl=None):
    """Queue a cloud-to-device message with `ferrohub c2d send` (the service SDKs
    send C2D over AMQP, which ferrohub does not speak). Returns the message id."""
    args = ["c2d", "send", device_id, "--data", data]
    for key, value in (properties or {}).items():
        args += ["--property", f"{key}={value}"]
    for flag, value in (
        ("--message-id", message_id),
        ("--correlation-id", correlation_id),
        ("--content-type", content_type),
        ("--content-encoding", content_encoding),
        ("--ack", ack),
        ("--ttl", ttl),
    ):
        if value is not None:
            args += [flag, value]
    out = ferrohub(*args).strip()
    assert out, f"ferrohub {' '.join(args)} printed no message id"
    if message_id is not None:
        assert out == message_id, f"c2d send printed {out!r}, expected the given id {message_id!r}"
    return out


def wait_for_feedback(original_message_id, deadline_s=30):
    """Poll `ferrohub c2d feedback` (which completes what it prints) until a
    record for `original_message_id` shows up; return it and every record seen."""
    deadline = time.monotonic() + deadline_s
    seen = []
    while True:
        for line in ferrohub("c2d", "feedback").splitlines():
            if line.strip():
                seen.append(json.loads(line))
        matching = [r for r in seen if r.get("originalMessageId") == original_message_id]
        if matching:
            return matching[0], seen
        if time.monotonic() > deadline:
            pytest.fail(
                f"no feedback record for {original_message_id} within {deadline_s}s; seen: {seen}"
            )
        time.sleep(0.2)


def run_monitor(device_id, timeout=3):
    """One pass of `ferrohub monitor --json` over everything the device sent.

    The data dir comes from FERROHUB_DATA_DIR (exported by run.sh)."""
    cmd = [
        env("FERROHUB_BIN"),
        "monitor",
        "--device",
        device_id,
        "--from",
        "earliest",
        "--timeout",
        str(timeout),
        "--json",
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout + 60)
    assert proc.returncode == 0, (
        f"{' '.join(cmd)} exited {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    )
    events = []
    for line in proc.stdout.splitlines():
        line = line.strip()
        if line:
            events.append(json.loads(line))
    return events


def read_events(device_id, count, deadline_s=30):
    """Poll the monitor until at least `count` events of the device are
    visible (bounded by `deadline_s`), then return them all."""
    deadline = time.monotonic() + deadline_s
    while True:
        events = run_monitor(device_id)
        if len(events) >= count:
            return events
        if time.monotonic() > deadline:
            pytest.fail(
                f"expected >= {count} telemetry events for {device_id} within {deadline_s}s, "
                f"monitor returned {len(events)}: {events}"
            )


def wait_until(predicate, timeout_s, message, interval=0.1):
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout_s}s: {message}")
        time.sleep(interval)


def next_item(q, timeout_s, what):
    """The next item a handler put on queue `q`, waiting at most `timeout_s`."""
    try:
        return q.get(timeout=timeout_s)
    except queue.Empty:
        pytest.fail(f"timed out after {timeout_s}s waiting for {what}")


def assert_nothing_more(q, what):
    assert q.empty(), f"unexpected extra {what}: {list(q.queue)}"


def by_message_id(events):
    return {e.get("systemProperties", {}).get("message-id"): e for e in events}
