'use strict';
// Device-to-cloud telemetry over MQTT/TLS with azure-iot-device +
// azure-iot-device-mqtt, read back with `ferrohub monitor --json`.

const { test } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const {
  Client, ModuleClient, Message, SharedAccessKeyAuthenticationProvider,
} = require('azure-iot-device');
const { Mqtt } = require('azure-iot-device-mqtt');
const h = require('./helpers');

// Application properties with characters that need percent-encoding. Node
// encodes keys/values with encodeURIComponent, so ( ) ! ' * arrive raw.
const TRICKY = {
  'a b': 'x&y=z',
  'ünïcødé-kéy': 'snow ☃ / 雪',
  'plus+sign': '1+1=2',
  'percent%': '100%',
  "paren(s)!": "it's (fine)*",
};

function makeMessage(body, messageId, correlationId) {
  const msg = new Message(JSON.stringify(body));
  msg.messageId = messageId;
  msg.correlationId = correlationId;
  msg.contentType = 'application/json';
  msg.contentEncoding = 'utf-8';
  for (const [k, v] of Object.entries(TRICKY)) msg.properties.add(k, v);
  // Node maps the custom property dt-subject to the system property $.sub
  msg.properties.add('dt-subject', 'thermostat1');
  return msg;
}

function assertEvent(event, { deviceId, moduleId, body, messageId, correlationId }) {
  assert.equal(event.deviceId, deviceId);
  assert.equal(event.moduleId ?? null, moduleId);
  assert.deepEqual(event.body, body);
  assert.deepEqual(event.properties, TRICKY);
  const sys = event.systemProperties;
  assert.equal(sys['message-id'], messageId);
  assert.equal(sys['correlation-id'], correlationId);
  assert.equal(sys['content-type'], 'application/json');
  assert.equal(sys['content-encoding'], 'utf-8');
  assert.equal(sys['dt-subject'], 'thermostat1');
  assert.equal(sys['iothub-connection-device-id'], deviceId);
  assert.equal(sys['iothub-message-source'], 'Telemetry');
  assert.ok(sys['iothub-enqueuedtime'] || event.enqueuedTime);
  assert.equal(typeof event.sequenceNumber, 'number');
  assert.equal(typeof event.partition, 'number');
}

// Record transport-level trouble the SDK only reports through events.
function watch(client) {
  const seen = { errors: [], disconnects: [] };
  client.on('error', (err) => seen.errors.push(err));
  client.on('disconnect', (res) => seen.disconnects.push(res));
  return seen;
}

test('device telemetry round trip', { timeout: 120000 }, async () => {
  const reg = h.registry();
  const device = await h.createDevice(reg, 'node-tel');
  const client = Client.fromConnectionString(h.deviceConnectionString(device), Mqtt);
  const seen = watch(client);
  try {
    await client.setOptions({ ca: h.caPem() });
    await h.withTimeout(client.open(), 60, 'client.open()');
    const mid = `mid ${crypto.randomUUID()}`;
    const cid = `cid/${crypto.randomUUID()}`;
    const body = { temperature: 21.5, text: 'héllo ☃', n: [1, 2, 3] };
    await h.withTimeout(client.sendEvent(makeMessage(body, mid, cid)), 60, 'sendEvent #1');
    await h.withTimeout(client.sendEvent(new Message('plain text payload')), 60, 'sendEvent #2');

    const events = await h.readEvents(device.deviceId, 2);
    assert.equal(events.length, 2, JSON.stringify(events));
    const first = h.byMessageId(events)[mid];
    assert.ok(first, `no event with message-id ${mid}: ${JSON.stringify(events)}`);
    assertEvent(first, {
      deviceId: device.deviceId, moduleId: null, body, messageId: mid, correlationId: cid,
    });
    const plain = events.find((e) => e !== first);
    assert.equal(plain.body, 'plain text payload');
    assert.deepEqual(plain.properties, {});
    assert.equal(plain.systemProperties['message-id'], undefined);
    assert.ok(first.sequenceNumber < plain.sequenceNumber);
    assert.deepEqual(seen.disconnects, []);
  } finally {
    await client.close().catch(() => {});
    await h.deleteQuietly(reg, device.deviceId);
  }
});

test('module telemetry round trip', { timeout: 120000 }, async () => {
  const reg = h.registry();
  const device = await h.createDevice(reg, 'node-modtel');
  const moduleId = h.uniqueId('nmod');
  let client;
  try {
    await reg.addModule({ deviceId: device.deviceId, moduleId });
    const { responseBody: mod } = await reg.getModule(device.deviceId, moduleId);
    client = ModuleClient.fromConnectionString(h.moduleConnectionString(mod), Mqtt);
    watch(client);
    await client.setOptions({ ca: h.caPem() });
    await h.withTimeout(client.open(), 60, 'moduleClient.open()');
    const mid = crypto.randomUUID();
    const cid = crypto.randomUUID();
    const body = { module: moduleId };
    await h.withTimeout(client.sendEvent(makeMessage(body, mid, cid)), 60, 'module sendEvent');

    const events = await h.readEvents(device.deviceId, 1);
    assert.equal(events.length, 1, JSON.stringify(events));
    assertEvent(events[0], {
      deviceId: device.deviceId, moduleId, body, messageId: mid, correlationId: cid,
    });
    const sys = events[0].systemProperties;
    if ('iothub-connection-module-id' in sys) assert.equal(sys['iothub-connection-module-id'], moduleId);
  } finally {
    if (client) await client.close().catch(() => {});
    await h.deleteQuietly(reg, device.deviceId);
  }
});

test('token renewal reconnect keeps telemetry flowing', { timeout: 150000 }, async () => {
  const reg = h.registry();
  const device = await h.createDevice(reg, 'node-renew');
  // Same provider Client.fromConnectionString would build, created here so the
  // test can wait on its public 'newTokenAvailable' event.
  const auth = SharedAccessKeyAuthenticationProvider.fromConnectionString(h.deviceConnectionString(device));
  const client = Client.fromAuthenticationProvider(auth, Mqtt);
  const seen = watch(client);
  try {
    // tokens valid 20 s, renewed 15 s before expiry -> a new token (and an
    // MQTT DISCONNECT + CONNECT with it) every 5 s
    await client.setOptions({
      ca: h.caPem(),
      tokenRenewal: { tokenValidTimeInSeconds: 20, tokenRenewalMarginInSeconds: 15 },
    });
    await h.withTimeout(client.open(), 60, 'client.open()');
    await h.withTimeout(client.sendEvent(new Message('before renewal')), 60, 'sendEvent before renewal');

    // The transport's own newTokenAvailable listener (registered first) has
    // already moved the MQTT connection into 'reconnecting' when ours runs;
    // a publish issued now is deferred until the new CONNECT succeeded.
    const [creds1] = await h.nextEvent(auth, 'newTokenAvailable', 60, 'the first SAS renewal');
    assert.match(creds1.sharedAccessSignature, /^SharedAccessSignature sr=/);
    const m2 = new Message('after renewal 1');
    m2.messageId = 'after-1';
    await h.withTimeout(client.sendEvent(m2), 60, 'sendEvent after renewal 1');

    const [creds2] = await h.nextEvent(auth, 'newTokenAvailable', 60, 'the second SAS renewal');
    assert.notEqual(creds2.sharedAccessSignature, undefined);
    const m3 = new Message('after renewal 2');
    m3.messageId = 'after-2';
    await h.withTimeout(client.sendEvent(m3), 60, 'sendEvent after renewal 2');

    assert.deepEqual(seen.disconnects, [], 'the client reported a disconnect (renewed token refused?)');
    const events = await h.readEvents(device.deviceId, 3);
    assert.deepEqual(events.map((e) => e.body), ['before renewal', 'after renewal 1', 'after renewal 2']);
  } finally {
    await client.close().catch(() => {});
    await h.deleteQuietly(reg, device.deviceId);
  }
});

test('wrong key is refused with UnauthorizedError', { timeout: 90000 }, async () => {
  const reg = h.registry();
  const device = await h.createDevice(reg, 'node-badkey');
  const wrongKey = Buffer.alloc(32).toString('base64');
  assert.notEqual(wrongKey, device.authentication.symmetricKey.primaryKey);
  const cs = `HostName=${h.hubHostname()};DeviceId=${device.deviceId};SharedAccessKey=${wrongKey}`;
  const client = Client.fromConnectionString(cs, Mqtt);
  watch(client);
  try {
    await client.setOptions({ ca: h.caPem() });
    const started = Date.now();
    await assert.rejects(h.withTimeout(client.open(), 60, 'open() with a wrong key'), (err) => {
      // CONNACK 4/5 -> mqtt.js "Not authorized"/"Bad username or password" -> UnauthorizedError
      assert.equal(err.name, 'UnauthorizedError', `got ${err.name}: ${err.message}`);
      return true;
    });
    assert.ok(Date.now() - started < 60000);
  } finally {
    await client.close().catch(() => {});
    await h.deleteQuietly(reg, device.deviceId);
  }
});
