"""Fixtures for the ferrohub compatibility suite against the official Python
Azure IoT SDKs (azure-iot-device 2.14.0, azure-iot-hub 2.7.0).

The environment is prepared by ../run.sh:
  FERROHUB_BIN               the ferrohub binary
  FERROHUB_DATA_DIR          data dir of the running server (used by the CLI)
  FERROHUB_CA                CA certificate devices must trust
  IOTHUB_CONNECTION_STRING   iothubowner connection string
  REQUESTS_CA_BUNDLE         = FERROHUB_CA, so msrest/requests trusts the server

Shared fixtures: `registry`, `device`, `device_cs`, `make_device_client`,
`module_cs` (a module of `device`), `make_module_client`, `ca_pem`.
"""

import os

import pytest
from azure.iot.device import IoTHubDeviceClient, IoTHubModuleClient
from azure.iot.hub import IoTHubRegistryManager

from sdkhelpers import (
    device_connection_string,
    env,
    module_connection_string,
    parse_connection_string,
    unique_id,
)


@pytest.fixture(scope="session")
def service_connection_string():
    return env("IOTHUB_CONNECTION_STRING")


@pytest.fixture(scope="session")
def hub_hostname(service_connection_string):
    return parse_connection_string(service_connection_string)["HostName"]


@pytest.fixture(scope="session")
def ca_path():
    path = env("FERROHUB_CA")
    assert os.path.isfile(path), f"FERROHUB_CA={path} does not exist"
    return path


@pytest.fixture(scope="session")
def ca_pem(ca_path):
    with open(ca_path) as f:
        return f.read()


@pytest.fixture(scope="session")
def registry(service_connection_string):
    return IoTHubRegistryManager.from_connection_string(service_connection_string)


@pytest.fixture
def device(registry):
    """A fresh SAS device with server-generated keys, deleted at teardown."""
    device_id = unique_id("py")
    created = registry.create_device_with_sas(device_id, "", "", "enabled")
    yield created
    try:
        registry.delete_device(device_id)
    except Exception:  # the test may have deleted it already
        pass


@pytest.fixture
def device_cs(hub_hostname, device):
    return device_connection_string(hub_hostname, device)


@pytest.fixture
def make_device_client(ca_pem):
    """Factory for IoTHubDeviceClient instances; all are shut down at teardown."""
    clients = []

    def make(connection_string, **kwargs):
        client = IoTHubDeviceClient.create_from_connection_string(
            connection_string, server_verification_cert=ca_pem, **kwargs
        )
        clients.append(client)
        return client

    yield make
    for client in clients:
        try:
            client.shutdown()
        except Exception:
            pass


@pytest.fixture
def module_cs(registry, device, hub_hostname):
    """Connection string of a fresh SAS module of `device` (gone with the device)."""
    module_id = unique_id("pymod")
    registry.create_module_with_sas(device.device_id, module_id, "", "", "")
    return module_connection_string(hub_hostname, registry.get_module(device.device_id, module_id))


@pytest.fixture
def make_module_client(ca_pem):
    """Factory for IoTHubModuleClient instances; all are shut down at teardown."""
    clients = []

    def make(connection_string, **kwargs):
        client = IoTHubModuleClient.create_from_connection_string(
            connection_string, server_verification_cert=ca_pem, **kwargs
        )
        clients.append(client)
        return client

    yield make
    for client in clients:
        try:
            client.shutdown()
        except Exception:
            pass
