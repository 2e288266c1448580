"""Identity registry over the service REST API (api-version 2021-04-12) via
azure-iot-hub's IoTHubRegistryManager."""

import base64

import pytest
from msrest.exceptions import HttpOperationError

from sdkhelpers import unique_id


def status_of(err):
    return err.response.status_code if err.response is not None else None


def assert_key(key):
    assert key, "server must generate a key when the SDK sends an empty one"
    assert len(base64.b64decode(key, validate=True)) >= 16, f"key {key!r} is not a base64 key"


def test_create_get_update_list_delete(registry):
    device_id = unique_id("py-reg")
    try:
        # create: PUT /devices/{id} with empty keys; Python accepts only 200.
        created = registry.create_device_with_sas(device_id, "", "", "enabled")
        assert created.device_id == device_id
        assert created.status == "enabled"
        assert created.etag
        assert created.authentication.type == "sas"
        primary = created.authentication.symmetric_key.primary_key
        secondary = created.authentication.symmetric_key.secondary_key
        assert_key(primary)
        assert_key(secondary)
        assert primary != secondary

        # get
        got = registry.get_device(device_id)
        assert got.device_id == device_id
        assert got.status == "enabled"
        assert got.authentication.symmetric_key.primary_key == primary
        assert got.authentication.symmetric_key.secondary_key == secondary
        assert got.connection_state in ("Disconnected", "disconnected")

        # update with the current etag (the SDK sends it quoted)
        updated = registry.update_device_with_sas(
            device_id, got.etag, primary, secondary, "disabled"
        )
        assert updated.device_id == device_id
        assert updated.status == "disabled"
        assert updated.etag and updated.etag != got.etag, "etag must change on update"
        assert registry.get_device(device_id).status == "disabled"

        # update with a stale etag -> 412 Precondition Failed
        with pytest.raises(HttpOperationError) as stale:
            registry.update_device_with_sas(device_id, got.etag, primary, secondary, "enabled")
        assert status_of(stale.value) == 412

        # update with etag None -> the SDK sends If-Match: "*" (quoted star)
        again = registry.update_device_with_sas(device_id, None, primary, secondary, "enabled")
        assert again.status == "enabled"
        assert registry.get_device(device_id).status == "enabled"

        # list
        listed = registry.get_devices()
        assert device_id in [d.device_id for d in listed]
        limited = registry.get_devices(max_number_of_devices=1)
        assert len(limited) == 1

        # delete -> 204 (the SDK raises on anything else)
        assert registry.delete_device(device_id) is None

        # get after delete -> 404
        with pytest.raises(HttpOperationError) as missing:
            registry.get_device(device_id)
        assert status_of(missing.value) == 404
        assert device_id not in [d.device_id for d in registry.get_devices()]
    finally:
        try:
            registry.delete_device(device_id)
        except HttpOperationError:
            pass


def test_create_with_given_keys(registry):
    device_id = unique_id("py-keys")
    primary = base64.b64encode(b"p" * 32).decode()
    secondary = base64.b64encode(b"s" * 32).decode()
    try:
        created = registry.create_device_with_sas(device_id, primary, secondary, "disabled")
        assert created.status == "disabled"
        assert created.authentication.symmetric_key.primary_key == primary
        assert created.authentication.symmetric_key.secondary_key == secondary
    finally:
        registry.delete_device(device_id)


def test_create_existing_device_conflicts(registry, device):
    with pytest.raises(HttpOperationError) as conflict:
        registry.create_device_with_sas(device.device_id, "", "", "enabled")
    assert status_of(conflict.value) == 409
    # the original identity is untouched
    got = registry.get_device(device.device_id)
    assert got.authentication.symmetric_key.primary_key == (
        device.authentication.symmetric_key.primary_key
    )


def test_delete_missing_device_is_404(registry):
    with pytest.raises(HttpOperationError) as missing:
        registry.delete_device(unique_id("py-missing"))
    assert status_of(missing.value) == 404


def test_statistics(registry):
    service = registry.get_service_statistics()
    assert isinstance(service.connected_device_count, int)
    assert service.connected_device_count >= 0

    before = registry.get_device_registry_statistics()
    enabled_id, disabled_id = unique_id("py-stat-on"), unique_id("py-stat-off")
    try:
        registry.create_device_with_sas(enabled_id, "", "", "enabled")
        registry.create_device_with_sas(disabled_id, "", "", "disabled")
        after = registry.get_device_registry_statistics()
        # other tests do not run concurrently (pytest runs serially)
        assert after.total_device_count == before.total_device_count + 2
        assert after.enabled_device_count == before.enabled_device_count + 1
        assert after.disabled_device_count == before.disabled_device_count + 1
        assert after.total_device_count == (
            after.enabled_device_count + after.disabled_device_count
        )
    finally:
        registry.delete_device(enabled_id)
        registry.delete_device(disabled_id)


def test_modules(registry, device):
    device_id = device.device_id
    module_id = "mod-" + unique_id("m")
    created = registry.create_module_with_sas(device_id, module_id, "", "", "")
    assert created.device_id == device_id
    assert created.module_id == module_id
    assert created.etag
    assert_key(created.authentication.symmetric_key.primary_key)
    assert_key(created.authentication.symmetric_key.secondary_key)

    got = registry.get_module(device_id, module_id)
    assert got.module_id == module_id
    assert got.device_id == device_id
    assert got.authentication.symmetric_key.primary_key == (
        created.authentication.symmetric_key.primary_key
    )

    second_id = "mod-" + unique_id("m")
    registry.create_module_with_sas(device_id, second_id, "", "", "")
    modules = registry.get_modules(device_id)
    assert sorted(m.module_id for m in modules) == sorted([module_id, second_id])

    with pytest.raises(HttpOperationError) as conflict:
        registry.create_module_with_sas(device_id, module_id, "", "", "")
    assert status_of(conflict.value) == 409

    assert registry.delete_module(device_id, module_id) is None  # 204
    with pytest.raises(HttpOperationError) as missing:
        registry.get_module(device_id, module_id)
    assert status_of(missing.value) == 404
    assert [m.module_id for m in registry.get_modules(device_id)] == [second_id]
    registry.delete_module(device_id, second_id)
