"""Direct methods: the device answers with azure-iot-device's
`on_method_request_received`, the service calls them with
IoTHubRegistryManager.invoke_device_method / invoke_device_module_method
(POST /twins/{id}[/modules/{mid}]/methods)."""

import queue
import time

import pytest
from azure.iot.device import MethodResponse
from azure.iot.hub.models import CloudToDeviceMethod
from msrest.exceptions import HttpOperationError

from sdkhelpers import next_item


def status_of(err):
    return err.response.status_code if err.response is not None else None


def answering(client, requests, status=200):
    """Handler that records each request and answers with an echo of it."""

    def handler(request):
        requests.put(request)
        client.send_method_response(
            MethodResponse.create_from_method_request(
                request, status, {"ok": True, "method": request.name, "echo": request.payload}
            )
        )

    return handler


def test_device_method_roundtrip(registry, device, device_cs, make_device_client):
    client = make_device_client(device_cs)
    client.connect()
    requests = queue.Queue()
    # blocks until the $iothub/methods/POST/# SUBSCRIBE was acknowledged
    client.on_method_request_received = answering(client, requests)

    payload = {"delay": 3, "reason": "héllo ☃", "list": [1, None, "x"]}
    result = registry.invoke_device_method(
        device.device_id,
        CloudToDeviceMethod(method_name="reboot", payload=payload, response_timeout_in_seconds=30),
    )
    assert result.status == 200
    assert result.payload == {"ok": True, "method": "reboot", "echo": payload}
    request = next_item(requests, 5, "the method request on the device")
    assert request.name == "reboot"
    assert request.payload == payload
    assert request.request_id

    # a scalar payload, and a non-200 status chosen by the device
    client.on_method_request_received = answering(client, requests, status=418)
    result = registry.invoke_device_method(
        device.device_id,
        CloudToDeviceMethod(method_name="brew.coffee", payload=42, response_timeout_in_seconds=10),
    )
    assert result.status == 418
    assert result.payload == {"ok": True, "method": "brew.coffee", "echo": 42}
    assert next_item(requests, 5, "the second method request").payload == 42


def test_method_subscription_survives_reconnect(registry, device, device_cs, make_device_client):
    """Python reconnects with clean=0 and never subscribes again: the server
    must keep the session's $iothub/methods/POST/# subscription."""
    client = make_device_client(device_cs)
    client.connect()
    requests = queue.Queue()
    client.on_method_request_received = answering(client, requests)
    client.disconnect()
    client.connect()
    result = registry.invoke_device_method(
        device.device_id,
        CloudToDeviceMethod(method_name="afterReconnect", payload=1, response_timeout_in_seconds=10),
    )
    assert result.status == 200
    assert result.payload["method"] == "afterReconnect"
    assert next_item(requests, 5, "the method request after reconnect").payload == 1


def test_method_on_offline_device_is_404_device_not_online(registry, device):
    started = time.monotonic()
    with pytest.raises(HttpOperationError) as err:
        registry.invoke_device_method(
            device.device_id,
            CloudToDeviceMethod(method_name="reboot", payload={}, response_timeout_in_seconds=5),
        )
    assert status_of(err.value) == 404
    assert "DeviceNotOnline" in err.value.response.text, err.value.response.text
    # connectTimeoutInSeconds defaults to 0: fail at once, do not wait for the response timeout
    assert time.monotonic() - started < 5


def test_method_on_connected_but_unsubscribed_device_is_404(registry, device, device_cs, make_device_client):
    client = make_device_client(device_cs)
    client.connect()
    with pytest.raises(HttpOperationError) as err:
        registry.invoke_device_method(
            device.device_id,
            CloudToDeviceMethod(method_name="reboot", payload={}, response_timeout_in_seconds=5),
        )
    assert status_of(err.value) == 404
    assert "DeviceNotOnline" in err.value.response.text, err.value.response.text


def test_unanswered_method_times_out_with_504(registry, device, device_cs, make_device_client):
    client = make_device_client(device_cs)
    client.connect()
    requests = queue.Queue()
    client.on_method_request_received = requests.put  # never answers

    started = time.monotonic()
    with pytest.raises(HttpOperationError) as err:
        registry.invoke_device_method(
            device.device_id,
            CloudToDeviceMethod(method_name="slow", payload=None, response_timeout_in_seconds=5),
        )
    elapsed = time.monotonic() - started
    assert status_of(err.value) == 504
    assert "GatewayTimeout" in err.value.response.text, err.value.response.text
    assert 4.5 <= elapsed < 20, f"504 after {elapsed:.1f}s, expected ~5s"
    request = next_item(requests, 1, "the unanswered request on the device")
    assert request.name == "slow"
    # the SDK turns a None payload into "" before sending it
    assert request.payload == ""


def test_module_method(registry, device, module_cs, make_module_client):
    module_id = module_cs.split("ModuleId=")[1].split(";")[0]
    module_client = make_module_client(module_cs)
    module_client.connect()
    module_requests = queue.Queue()
    module_client.on_method_request_received = answering(module_client, module_requests)

    result = registry.invoke_device_module_method(
        device.device_id,
        module_id,
        CloudToDeviceMethod(method_name="getConfig", payload={"k": "v"}, response_timeout_in_seconds=10),
    )
    assert result.status == 200
    assert result.payload == {"ok": True, "method": "getConfig", "echo": {"k": "v"}}
    assert next_item(module_requests, 5, "the module's method request").name == "getConfig"

    # the module's subscription does not make the device itself reachable
    with pytest.raises(HttpOperationError) as err:
        registry.invoke_device_method(
            device.device_id,
            CloudToDeviceMethod(method_name="getConfig", payload={}, response_timeout_in_seconds=5),
        )
    assert status_of(err.value) == 404
    assert module_requests.empty()
