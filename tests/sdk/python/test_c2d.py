"""Cloud-to-device messages received with azure-iot-device's
`on_message_received` handler. The service SDK sends C2D over AMQP, which
ferrohub does not implement, so messages are queued with `ferrohub c2d send`
and feedback is read with `ferrohub c2d feedback`."""

import json
import queue
import uuid
from datetime import datetime, timedelta, timezone

from sdkhelpers import assert_nothing_more, c2d_send, next_item, wait_for_feedback

# Keys and values that must survive the percent-encoded property bag of the
# devicebound topic: the SDK splits the topic on '/', pairs on '&' and '=' and
# then unquotes (without '+' handling), so the server must encode all of them.
TRICKY_PROPERTIES = {
    "a b": "x&y=z",
    "ünïcødé-kéy": "snow ☃ / 雪",
    "plus+sign": "1+1=2",
    "percent%": "100%",
    "slash/key": "a/b?c#d",
    "dollar$key": "$.mid=not-a-system-property",
    "empty": "",  # sent as `empty=`; a bare key would mean None
}


def receiving_client(make_device_client, device_cs):
    """A connected client whose C2D handler puts every message on the returned queue.
    Setting the handler blocks until the SUBSCRIBE was acknowledged."""
    client = make_device_client(device_cs)
    client.connect()
    received = queue.Queue()
    client.on_message_received = received.put
    return client, received


def parse_utc(text):
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_c2d_with_system_and_application_properties(device, device_cs, make_device_client):
    client, received = receiving_client(make_device_client, device_cs)
    mid = "mid " + str(uuid.uuid4())
    cid = "cid/" + str(uuid.uuid4())
    body = {"command": "light", "on": True, "text": "héllo ☃"}
    before = datetime.now(timezone.utc)
    c2d_send(
        device.device_id,
        json.dumps(body),
        properties=TRICKY_PROPERTIES,
        message_id=mid,
        correlation_id=cid,
        content_type="application/json",
        content_encoding="utf-8",
        ttl=600,
    )

    msg = next_item(received, 30, "the C2D message")
    assert json.loads(msg.data.decode("utf-8")) == body
    assert msg.message_id == mid
    assert msg.correlation_id == cid
    assert msg.content_type == "application/json"
    assert msg.content_encoding == "utf-8"
    assert msg.custom_properties == TRICKY_PROPERTIES
    assert msg.ack == "none", "iothub-ack must be present even when it is 'none'"
    assert msg.expiry_time_utc, "a message with --ttl must carry $.exp"
    expiry = parse_utc(msg.expiry_time_utc)
    assert before + timedelta(seconds=590) < expiry < before + timedelta(seconds=660), expiry

    # a plain message: no system properties given, raw text body
    plain_id = c2d_send(device.device_id, "just text")
    plain = next_item(received, 30, "the plain C2D message")
    assert plain.data == b"just text"
    assert plain.message_id == plain_id
    assert plain.correlation_id is None
    assert plain.custom_properties == {}
    assert_nothing_more(received, "C2D messages")


def test_c2d_queued_while_offline_arrives_after_reconnect(device, device_cs, make_device_client):
    client, received = receiving_client(make_device_client, device_cs)
    first = c2d_send(device.device_id, "while online")
    assert next_item(received, 30, "the first C2D message").message_id == first

    client.disconnect()
    assert not client.connected
    offline_ids = [
        c2d_send(device.device_id, f"while offline {i}", message_id=f"offline-{i}-{uuid.uuid4()}")
        for i in range(2)
    ]

    # The SDK reconnects with clean=0 and does not subscribe again: the server
    # must keep the C2D subscription of the session and deliver the queue.
    client.connect()
    got = [next_item(received, 30, f"offline message #{i} after reconnect") for i in range(2)]
    assert [m.message_id for m in got] == offline_ids, "queued messages must arrive in order"
    assert [m.data for m in got] == [b"while offline 0", b"while offline 1"]

    # a message sent after the reconnect still arrives, and nothing twice
    last = c2d_send(device.device_id, "after reconnect")
    assert next_item(received, 30, "the message sent after reconnect").message_id == last
    assert_nothing_more(received, "C2D messages (redelivered after PUBACK?)")


def test_c2d_full_ack_produces_success_feedback(device, device_cs, make_device_client):
    client, received = receiving_client(make_device_client, device_cs)
    mid = f"fb-{uuid.uuid4()}"
    c2d_send(device.device_id, "please acknowledge", message_id=mid, ack="full")
    msg = next_item(received, 30, "the C2D message with ack=full")
    assert msg.message_id == mid
    assert msg.ack == "full"

    # paho PUBACKs a QoS 1 delivery as soon as it has handed it to the SDK;
    # that completes the message and produces a positive feedback record.
    record, _ = wait_for_feedback(mid)
    assert record["statusCode"] == "Success", record
    assert record["deviceId"] == device.device_id, record
    assert record.get("enqueuedTimeUtc"), record
