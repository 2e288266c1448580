"""Device and module twins: azure-iot-device over MQTT ($iothub/twin/...) and
azure-iot-hub's IoTHubRegistryManager over REST (/twins/{id}, If-Match)."""

import queue
import uuid

import pytest
from azure.iot.hub.models import Twin, TwinProperties
from msrest.exceptions import HttpOperationError

from sdkhelpers import next_item


def status_of(err):
    return err.response.status_code if err.response is not None else None


def without_metadata(props):
    return {k: v for k, v in props.items() if not k.startswith("$")}


def next_patch_with(patches, key, timeout_s=30):
    """The next desired patch containing `key`; patches without it fail the test."""
    patch = next_item(patches, timeout_s, f"a desired-properties patch with {key!r}")
    assert key in patch, f"unexpected desired patch {patch}"
    return patch


def test_device_get_and_reported_patch(registry, device, device_cs, make_device_client):
    client = make_device_client(device_cs)
    client.connect()

    twin = client.get_twin()
    assert isinstance(twin["desired"]["$version"], int)
    assert isinstance(twin["reported"]["$version"], int)
    assert without_metadata(twin["desired"]) == {}
    assert without_metadata(twin["reported"]) == {}
    assert "tags" not in twin, "the device's twin GET carries no tags"

    reported = {"temperature": 21.5, "firmware": {"version": "1.0.3", "ok": True}, "name": "héllo ☃"}
    client.patch_twin_reported_properties(reported)
    # merge patch: null deletes a key, nested objects merge
    client.patch_twin_reported_properties({"name": None, "firmware": {"ok": False}})
    expected = {"temperature": 21.5, "firmware": {"version": "1.0.3", "ok": False}}

    # the device acked both patches (204), so the service view has them
    service_twin = registry.get_twin(device.device_id)
    assert service_twin.device_id == device.device_id
    assert service_twin.etag
    assert without_metadata(service_twin.properties.reported) == expected
    assert service_twin.properties.reported["$version"] == twin["reported"]["$version"] + 2

    again = client.get_twin()
    assert without_metadata(again["reported"]) == expected
    assert again["reported"]["$version"] == twin["reported"]["$version"] + 2


def test_fresh_twin_etag_is_stable(registry, device):
    """A twin nobody has written yet still has ONE etag: two GETs agree, and a
    conditional update with it succeeds (IoT Hub twins exist from device creation)."""
    first = registry.get_twin(device.device_id)
    second = registry.get_twin(device.device_id)
    assert first.etag == second.etag, "the etag of an unchanged twin must not change between GETs"
    assert first.properties.desired["$metadata"] == second.properties.desired["$metadata"]
    updated = registry.update_twin(
        device.device_id, Twin(properties=TwinProperties(desired={"x": 1})), second.etag
    )
    assert updated.properties.desired["x"] == 1


def test_desired_patch_notification_and_etags(registry, device, device_cs, make_device_client):
    client = make_device_client(device_cs)
    client.connect()
    patches = queue.Queue()
    # blocks until the desired-properties SUBSCRIBE was acknowledged
    client.on_twin_desired_properties_patch_received = patches.put

    twin = registry.get_twin(device.device_id)
    assert twin.etag
    start_version = twin.properties.desired["$version"]
    fw = "2.0." + uuid.uuid4().hex[:6]
    patch = Twin(tags={"site": "lab-1"}, properties=TwinProperties(desired={"fw": fw, "interval": 5}))
    updated = registry.update_twin(device.device_id, patch, twin.etag)
    assert updated.etag and updated.etag != twin.etag, "the twin etag must change on update"
    assert updated.tags == {"site": "lab-1"}
    assert updated.properties.desired["fw"] == fw

    got = next_patch_with(patches, "fw")
    assert got["fw"] == fw
    assert got["interval"] == 5
    assert got["$version"] == updated.properties.desired["$version"]
    assert got["$version"] > start_version

    # the device's own GET sees the same desired state
    device_twin = client.get_twin()
    assert device_twin["desired"]["fw"] == fw
    assert device_twin["desired"]["$version"] == got["$version"]

    # stale etag -> 412 Precondition Failed, nothing changes, nothing is sent
    with pytest.raises(HttpOperationError) as stale:
        registry.update_twin(
            device.device_id, Twin(properties=TwinProperties(desired={"fw": "stale"})), twin.etag
        )
    assert status_of(stale.value) == 412
    assert registry.get_twin(device.device_id).properties.desired["fw"] == fw

    # replace_twin (PUT) with the current etag replaces tags and desired
    replaced = registry.replace_twin(
        device.device_id,
        Twin(tags={"owner": "ops"}, properties=TwinProperties(desired={"mode": "eco"})),
        updated.etag,
    )
    assert replaced.tags == {"owner": "ops"}
    assert without_metadata(replaced.properties.desired) == {"mode": "eco"}
    got = next_patch_with(patches, "mode")
    assert got["$version"] == replaced.properties.desired["$version"]
    assert client.get_twin()["desired"]["mode"] == "eco"
    assert "fw" not in client.get_twin()["desired"]

    # etag None -> the SDK sends If-Match: "*" (unconditional)
    registry.update_twin(device.device_id, Twin(properties=TwinProperties(desired={"fw": None})), None)


def test_module_twin(registry, device, module_cs, make_module_client):
    module_id = module_cs.split("ModuleId=")[1].split(";")[0]
    client = make_module_client(module_cs)
    client.connect()
    patches = queue.Queue()
    client.on_twin_desired_properties_patch_received = patches.put

    twin = client.get_twin()
    assert isinstance(twin["desired"]["$version"], int)
    client.patch_twin_reported_properties({"moduleState": "running"})

    service_twin = registry.get_module_twin(device.device_id, module_id)
    assert service_twin.device_id == device.device_id
    assert service_twin.module_id == module_id
    assert service_twin.properties.reported["moduleState"] == "running"
    # the module's reported properties are not the device's
    assert "moduleState" not in registry.get_twin(device.device_id).properties.reported

    updated = registry.update_module_twin(
        device.device_id,
        module_id,
        Twin(properties=TwinProperties(desired={"logLevel": "debug"})),
        service_twin.etag,
    )
    got = next_patch_with(patches, "logLevel")
    assert got["logLevel"] == "debug"
    assert got["$version"] == updated.properties.desired["$version"]

    with pytest.raises(HttpOperationError) as stale:
        registry.update_module_twin(
            device.device_id,
            module_id,
            Twin(properties=TwinProperties(desired={"logLevel": "stale"})),
            service_twin.etag,
        )
    assert status_of(stale.value) == 412


def test_desired_subscription_survives_reconnect(registry, device, device_cs, make_device_client):
    """Python reconnects with clean=0 and never subscribes again: the server
    must keep the session's $iothub/twin/PATCH/properties/desired/# subscription."""
    client = make_device_client(device_cs)
    client.connect()
    patches = queue.Queue()
    client.on_twin_desired_properties_patch_received = patches.put
    registry.update_twin(device.device_id, Twin(properties=TwinProperties(desired={"round": 1})), None)
    assert next_patch_with(patches, "round")["round"] == 1

    client.disconnect()
    client.connect()
    # After CONNACK the SDK sends its own twin GET to catch up on missed
    # versions; ours is answered after it, so the update below can only reach
    # the device as a desired notification.
    assert client.get_twin()["desired"]["round"] == 1
    updated = registry.update_twin(
        device.device_id, Twin(properties=TwinProperties(desired={"round": 2})), None
    )
    got = next_patch_with(patches, "round")
    assert got["round"] == 2
    assert got["$version"] == updated.properties.desired["$version"]
