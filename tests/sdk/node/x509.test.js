'use strict';
// X.509 device authentication with azure-iot-device: a connection string with
// `x509=true` and the certificate and key given to setOptions, over MQTT/TLS
// and MQTT over WebSockets. Certificates are made with the openssl CLI, as the
// Azure tutorials make them; a CA is uploaded and proven with `ferrohub ca`.

const { test } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { execFileSync } = require('node:child_process');
const { Client, Message } = require('azure-iot-device');
const { Mqtt, MqttWs } = require('azure-iot-device-mqtt');
const h = require('./helpers');

const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ferrohub-node-x509-'));

function openssl(...args) {
  execFileSync('openssl', args, { stdio: 'pipe' });
}

const file = (name) => path.join(workDir, name);

// A self-signed P-256 certificate with subject CN=`cn`; returns paths and the
// SHA-256 thumbprint as uppercase hex.
function selfSigned(cn) {
  const [cert, key] = [file(`${cn}.pem`), file(`${cn}-key.pem`)];
  openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
    '-keyout', key, '-out', cert, '-days', '2', '-subj', `/CN=${cn}`,
    '-addext', 'extendedKeyUsage=clientAuth');
  const fingerprint = execFileSync('openssl',
    ['x509', '-in', cert, '-noout', '-fingerprint', '-sha256'], { encoding: 'utf8' });
  return { cert, key, thumbprint: fingerprint.trim().split('=')[1].replace(/:/g, '') };
}

function root(name) {
  const [cert, key] = [file(`${name}.pem`), file(`${name}-key.pem`)];
  openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
    '-keyout', key, '-out', cert, '-days', '2', '-subj', `/CN=${name}`,
    '-addext', 'basicConstraints=critical,CA:TRUE',
    '-addext', 'keyUsage=critical,keyCertSign,digitalSignature');
  return { cert, key };
}

// A certificate with subject CN=`cn` issued by `ca`.
function issued(cn, ca) {
  const name = cn.replace(/\//g, '_');
  const [cert, key, csr, ext] = ['.pem', '-key.pem', '.csr', '.ext'].map((s) => file(name + s));
  fs.writeFileSync(ext, 'basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n');
  openssl('req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
    '-keyout', key, '-out', csr, '-subj', `/CN=${cn}`);
  openssl('x509', '-req', '-in', csr, '-CA', ca.cert, '-CAkey', ca.key, '-CAcreateserial',
    '-out', cert, '-days', '1', '-extfile', ext);
  return { cert, key };
}

function x509Client(deviceId, credentials, transport) {
  const cs = `HostName=${h.hubHostname()};DeviceId=${deviceId};x509=true`;
  const client = Client.fromConnectionString(cs, transport);
  return {
    client,
    options: {
      cert: fs.readFileSync(credentials.cert, 'utf8'),
      key: fs.readFileSync(credentials.key, 'utf8'),
      ca: h.caPem(),
    },
  };
}

// Connects, sends one message and checks it arrived as sent by a certificate.
async function sendsAsX509(deviceId, credentials, transport) {
  const { client, options } = x509Client(deviceId, credentials, transport);
  try {
    await client.setOptions(options);
    await h.withTimeout(client.open(), 60, 'client.open()');
    const text = `from ${deviceId} with a certificate`;
    await h.withTimeout(client.sendEvent(new Message(text)), 60, 'sendEvent');
    const events = await h.readEvents(deviceId, 1);
    assert.equal(events[0].body, text);
    assert.match(events[0].systemProperties['iothub-connection-auth-method'], /x509Certificate/);
  } finally {
    await client.close();
  }
}

async function createThumbprintDevice(reg, deviceId, thumbprint) {
  await reg.create({
    deviceId,
    status: 'enabled',
    authentication: {
      type: 'selfSigned',
      x509Thumbprint: { primaryThumbprint: thumbprint, secondaryThumbprint: thumbprint },
    },
  });
}

for (const [name, transport] of [['MQTT', Mqtt], ['MQTT over WebSockets', MqttWs]]) {
  test(`a thumbprint device sends telemetry over ${name}`, { timeout: 120000 }, async () => {
    const reg = h.registry();
    const deviceId = h.uniqueId('node-x509');
    const credentials = selfSigned(deviceId);
    await createThumbprintDevice(reg, deviceId, credentials.thumbprint);
    try {
      await sendsAsX509(deviceId, credentials, transport);
    } finally {
      await h.deleteQuietly(reg, deviceId);
    }
  });
}

test('a certificate with another thumbprint cannot open the client', { timeout: 120000 }, async () => {
  const reg = h.registry();
  const deviceId = h.uniqueId('node-x509');
  await createThumbprintDevice(reg, deviceId, selfSigned(deviceId).thumbprint);
  const { client, options } = x509Client(deviceId, selfSigned('intruder'), Mqtt);
  try {
    await client.setOptions(options);
    await assert.rejects(h.withTimeout(client.open(), 60, 'client.open()'));
  } finally {
    await client.close();
    await h.deleteQuietly(reg, deviceId);
  }
});

test('a CA-signed device sends telemetry once the CA is proven', { timeout: 120000 }, async () => {
  const reg = h.registry();
  const caName = h.uniqueId('nodeca');
  const ca = root(caName);
  await h.ferrohub(['ca', 'upload', caName, ca.cert]);
  const code = (await h.ferrohub(['ca', 'verification-code', caName])).trim();
  await h.ferrohub(['ca', 'verify', caName, issued(code, ca).cert]);
  const deviceId = h.uniqueId('node-cadev');
  await reg.create({ deviceId, status: 'enabled', authentication: { type: 'certificateAuthority' } });
  try {
    await sendsAsX509(deviceId, issued(deviceId, ca), Mqtt);
  } finally {
    await h.deleteQuietly(reg, deviceId);
    await h.ferrohub(['ca', 'delete', caName]);
  }
});
