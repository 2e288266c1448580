"""Helpers shared by the Python SDK compatibility tests (fixtures live in conftest.py)."""

import json
import os
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


def by_message_id(events):
    return {e.get("systemProperties", {}).get("message-id"): e for e in events}
