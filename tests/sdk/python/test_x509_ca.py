"""CA-signed X.509 device authentication (`certificateAuthority`) with azure-iot-device's
`create_from_x509_certificate`: the CA and device certificates made with the openssl CLI,
the CA uploaded and proven with `ferrohub ca`, the device registered with azure-iot-hub."""

import subprocess

import pytest
from azure.iot.device import IoTHubDeviceClient, X509
from azure.iot.device.exceptions import CredentialError

from sdkhelpers import ferrohub, read_events, unique_id


def openssl(*args):
    subprocess.run(["openssl", *[str(a) for a in args]], check=True, capture_output=True)


def make_root(tmp_path, name):
    cert, key = tmp_path / f"{name}.pem", tmp_path / f"{name}-key.pem"
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", key, "-out", cert, "-days", "2", "-subj", f"/CN={name}",
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,digitalSignature")
    return cert, key


def sign(tmp_path, cn, ca_cert, ca_key):
    """A certificate with subject CN=`cn` issued by the CA, as the Azure tutorials make it."""
    name = cn.replace("/", "_")
    key, csr, cert = (tmp_path / f"{name}-key.pem", tmp_path / f"{name}.csr",
                      tmp_path / f"{name}.pem")
    ext = tmp_path / f"{name}.ext"
    ext.write_text("basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n")
    openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", key, "-out", csr, "-subj", f"/CN={cn}")
    openssl("x509", "-req", "-in", csr, "-CA", ca_cert, "-CAkey", ca_key, "-CAcreateserial",
            "-out", cert, "-days", "1", "-extfile", ext)
    return str(cert), str(key)


@pytest.fixture
def verified_ca(tmp_path):
    """A root CA uploaded to the hub and proven with `ferrohub ca`, deleted at teardown."""
    name = unique_id("pyca")
    cert, key = make_root(tmp_path, name)
    ferrohub("ca", "upload", name, cert)
    code = ferrohub("ca", "verification-code", name).strip()
    proof_cert, _ = sign(tmp_path, code, cert, key)
    ferrohub("ca", "verify", name, proof_cert)
    yield cert, key
    ferrohub("ca", "delete", name)


@pytest.fixture
def ca_device(registry):
    device_id = unique_id("pycadev")
    registry.create_device_with_certificate_authority(device_id, "enabled")
    yield device_id
    registry.delete_device(device_id)


def client_for(cert, key, device_id, hub_hostname, ca_pem):
    return IoTHubDeviceClient.create_from_x509_certificate(
        x509=X509(cert_file=cert, key_file=key),
        hostname=hub_hostname,
        device_id=device_id,
        server_verification_cert=ca_pem,
        connection_retry=False,
    )


def test_a_ca_signed_device_connects_and_sends(verified_ca, ca_device, hub_hostname, ca_pem,
                                               tmp_path):
    cert, key = sign(tmp_path, ca_device, *verified_ca)
    client = client_for(cert, key, ca_device, hub_hostname, ca_pem)
    try:
        client.connect()
        client.send_message("signed under a verified CA")
        events = read_events(ca_device, 1)
        assert events[0]["body"] == "signed under a verified CA"
        assert "x509Certificate" in events[0]["systemProperties"]["iothub-connection-auth-method"]
    finally:
        client.shutdown()


def test_a_ca_signed_certificate_for_another_device_is_refused(verified_ca, ca_device,
                                                               hub_hostname, ca_pem, tmp_path):
    cert, key = sign(tmp_path, "someone-else", *verified_ca)
    client = client_for(cert, key, ca_device, hub_hostname, ca_pem)
    try:
        with pytest.raises(CredentialError):
            client.connect()
    finally:
        client.shutdown()
