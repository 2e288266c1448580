"""Device-to-cloud telemetry over MQTT/TLS with azure-iot-device, read back
with `ferrohub monitor --json`."""

import json
import threading
import time
import uuid

import pytest
from azure.iot.device import IoTHubModuleClient, Message
from azure.iot.device.exceptions import CredentialError

from sdkhelpers import (
    by_message_id,
    module_connection_string,
    read_events,
    unique_id,
    wait_until,
)

TRICKY_PROPERTIES = {
    "a b": "x&y=z",
    "ünïcødé-kéy": "snow ☃ / 雪",
    "plus+sign": "1+1=2",
    "percent%": "100%",
    "slash/key": "a/b?c#d",
}


def make_message(body, message_id, correlation_id):
    msg = Message(
        json.dumps(body),
        message_id=message_id,
        content_encoding="utf-8",
        content_type="application/json",
    )
    msg.correlation_id = correlation_id
    msg.custom_properties.update(TRICKY_PROPERTIES)
    return msg


def assert_event(event, *, device_id, module_id, body, message_id, correlation_id):
    assert event["deviceId"] == device_id
    assert event.get("moduleId") == module_id
    assert event["body"] == body
    assert event["properties"] == TRICKY_PROPERTIES
    sysprops = event["systemProperties"]
    assert sysprops["message-id"] == message_id
    assert sysprops["correlation-id"] == correlation_id
    assert sysprops["content-type"] == "application/json"
    assert sysprops["content-encoding"] == "utf-8"
    assert sysprops["iothub-connection-device-id"] == device_id
    assert sysprops["iothub-message-source"] == "Telemetry"
    assert sysprops.get("iothub-enqueuedtime") or event.get("enqueuedTime")
    if "iothub-connection-auth-method" in sysprops:
        assert "sas" in str(sysprops["iothub-connection-auth-method"]).lower()
    assert isinstance(event["sequenceNumber"], int)
    assert isinstance(event["partition"], int)


def test_device_telemetry_roundtrip(device, device_cs, make_device_client):
    client = make_device_client(device_cs)
    client.connect()
    assert client.connected

    mid = "mid " + str(uuid.uuid4())
    cid = "cid/" + str(uuid.uuid4())
    body = {"temperature": 21.5, "text": "héllo ☃", "n": [1, 2, 3]}
    client.send_message(make_message(body, mid, cid))

    # a second, plain message: no system properties, non-JSON body
    client.send_message("plain text payload")

    events = read_events(device.device_id, 2)
    assert len(events) == 2, events
    first = by_message_id(events)[mid]
    assert_event(
        first,
        device_id=device.device_id,
        module_id=None,
        body=body,
        message_id=mid,
        correlation_id=cid,
    )
    plain = [e for e in events if e is not first][0]
    assert plain["body"] == "plain text payload"
    assert plain["properties"] == {}
    assert "message-id" not in plain["systemProperties"]
    assert plain["systemProperties"]["iothub-connection-device-id"] == device.device_id
    # enqueue order is send order
    assert first["sequenceNumber"] < plain["sequenceNumber"]


def test_device_telemetry_over_websockets(device, device_cs, make_device_client):
    """`websockets=True`: MQTT over wss://host:443/$iothub/websocket, subprotocol mqtt."""
    client = make_device_client(device_cs, websockets=True)
    client.connect()
    assert client.connected
    mid = "ws " + str(uuid.uuid4())
    client.send_message(make_message({"via": "websockets"}, mid, "cid-ws"))
    events = read_events(device.device_id, 1)
    event = by_message_id(events)[mid]
    assert event["body"] == {"via": "websockets"}
    assert event["properties"] == TRICKY_PROPERTIES
    assert event["systemProperties"]["iothub-connection-device-id"] == device.device_id


def test_module_telemetry_roundtrip(registry, device, hub_hostname, ca_pem):
    module_id = unique_id("pymod")
    registry.create_module_with_sas(device.device_id, module_id, "", "", "")
    module = registry.get_module(device.device_id, module_id)
    client = IoTHubModuleClient.create_from_connection_string(
        module_connection_string(hub_hostname, module), server_verification_cert=ca_pem
    )
    try:
        client.connect()
        mid = str(uuid.uuid4())
        cid = str(uuid.uuid4())
        body = {"module": module_id}
        client.send_message(make_message(body, mid, cid))
    finally:
        client.shutdown()

    events = read_events(device.device_id, 1)
    assert len(events) == 1, events
    assert_event(
        events[0],
        device_id=device.device_id,
        module_id=module_id,
        body=body,
        message_id=mid,
        correlation_id=cid,
    )
    sysprops = events[0]["systemProperties"]
    if "iothub-connection-module-id" in sysprops:
        assert sysprops["iothub-connection-module-id"] == module_id


def test_token_renewal_reconnect(device, device_cs, make_device_client):
    """With sastoken_ttl=130 the SDK renews 120 s before expiry, i.e. after
    ~10 s: it DISCONNECTs and CONNECTs again (clean=0, same client id) with a
    new SAS token. Both messages must arrive."""
    client = make_device_client(device_cs, sastoken_ttl=130)
    changes = []
    lock = threading.Lock()

    def on_state_change():
        with lock:
            changes.append((time.monotonic(), client.connected))

    client.on_connection_state_change = on_state_change
    client.connect()
    wait_until(lambda: len(changes) >= 1, 10, "no connection-state event after connect()")
    connected_at = time.monotonic()

    client.send_message(Message("before renewal", message_id="before"))

    # initial connect = 1 event; the renewal's disconnect + reconnect = 2 more
    wait_until(
        lambda: len(changes) >= 3 and client.connected,
        60,
        "the SDK did not reconnect after SAS renewal (expected ~10 s after connect); "
        f"state changes seen: {changes}",
    )
    assert time.monotonic() - connected_at < 60

    client.send_message(Message("after renewal", message_id="after"))
    assert client.connected

    events = by_message_id(read_events(device.device_id, 2))
    assert events["before"]["body"] == "before renewal"
    assert events["after"]["body"] == "after renewal"
    assert events["before"]["sequenceNumber"] < events["after"]["sequenceNumber"]


def _connect_with_bound(client, timeout_s):
    result = {}

    def run():
        try:
            client.connect()
            result["ok"] = True
        except BaseException as e:  # noqa: BLE001 - we report whatever it was
            result["error"] = e

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(timeout_s)
    if t.is_alive():
        pytest.fail(f"connect() did not return within {timeout_s}s")
    return result


def test_wrong_key_is_rejected(device, hub_hostname, make_device_client):
    wrong_key = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
    assert wrong_key != device.authentication.symmetric_key.primary_key
    cs = f"HostName={hub_hostname};DeviceId={device.device_id};SharedAccessKey={wrong_key}"
    client = make_device_client(cs, connection_retry=False)
    started = time.monotonic()
    result = _connect_with_bound(client, 30)
    assert "error" in result, "connect with a wrong key succeeded"
    # CONNACK 4/5 -> pipeline UnauthorizedError -> CredentialError
    assert isinstance(result["error"], CredentialError), repr(result["error"])
    assert time.monotonic() - started < 30
    assert not client.connected


def test_unknown_device_is_rejected(hub_hostname, make_device_client):
    cs = (
        f"HostName={hub_hostname};DeviceId={unique_id('py-nodev')};"
        "SharedAccessKey=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
    )
    client = make_device_client(cs, connection_retry=False)
    result = _connect_with_bound(client, 30)
    assert "error" in result, "connect as an unregistered device succeeded"
    assert isinstance(result["error"], CredentialError), repr(result["error"])
