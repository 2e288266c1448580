"""X.509 (self-signed, thumbprint) device authentication with azure-iot-device's
`create_from_x509_certificate`, the certificate made with the openssl CLI."""

import subprocess

import pytest
from azure.iot.device import IoTHubDeviceClient, X509
from azure.iot.device.exceptions import CredentialError

from sdkhelpers import read_events, unique_id


def make_certificate(tmp_path, cn, days=2):
    cert, key = tmp_path / f"{cn}.pem", tmp_path / f"{cn}-key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
         "-nodes", "-keyout", str(key), "-out", str(cert), "-days", str(days),
         "-subj", f"/CN={cn}", "-addext", "extendedKeyUsage=clientAuth"],
        check=True, capture_output=True,
    )
    fingerprint = subprocess.run(
        ["openssl", "x509", "-in", str(cert), "-noout", "-fingerprint", "-sha256"],
        check=True, capture_output=True, text=True,
    ).stdout.strip().split("=", 1)[1]
    return str(cert), str(key), fingerprint.replace(":", "")


@pytest.fixture
def x509_device(registry, tmp_path):
    device_id = unique_id("pyx509")
    cert, key, thumbprint = make_certificate(tmp_path, device_id)
    registry.create_device_with_x509(device_id, thumbprint, thumbprint, "enabled")
    yield device_id, cert, key
    registry.delete_device(device_id)


@pytest.mark.parametrize("websockets", [False, True], ids=["mqtt", "websockets"])
def test_x509_device_connects_and_sends(x509_device, hub_hostname, ca_pem, websockets):
    """Over MQTT/TLS, and with `websockets=True` the certificate goes in the TLS handshake
    on port 443 and authenticates the MQTT connection inside the WebSocket."""
    device_id, cert, key = x509_device
    client = IoTHubDeviceClient.create_from_x509_certificate(
        x509=X509(cert_file=cert, key_file=key),
        hostname=hub_hostname,
        device_id=device_id,
        server_verification_cert=ca_pem,
        websockets=websockets,
    )
    try:
        client.connect()
        client.send_message("signed by a certificate")
        events = read_events(device_id, 1)
        assert events[0]["body"] == "signed by a certificate"
        assert "x509Certificate" in events[0]["systemProperties"]["iothub-connection-auth-method"]
    finally:
        client.shutdown()


def test_x509_device_with_an_unregistered_certificate_is_refused(x509_device, hub_hostname, ca_pem, tmp_path):
    device_id, _, _ = x509_device
    other_cert, other_key, _ = make_certificate(tmp_path, "intruder")
    client = IoTHubDeviceClient.create_from_x509_certificate(
        x509=X509(cert_file=other_cert, key_file=other_key),
        hostname=hub_hostname,
        device_id=device_id,
        server_verification_cert=ca_pem,
        connection_retry=False,
    )
    try:
        with pytest.raises(CredentialError):
            client.connect()
    finally:
        client.shutdown()
