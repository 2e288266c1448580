'use strict';
// Cloud-to-device messages received by azure-iot-device's Client over
// azure-iot-device-mqtt. azure-iothub's Client.send speaks AMQP, which
// ferrohub does not implement, so the messages are queued with
// `ferrohub c2d send`. The server keeps a device's messages until it has
// subscribed, so a send right after client.on('message') is not a race.

const { test } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const { Client, Message, SharedAccessKeyAuthenticationProvider } = require('azure-iot-device');
const { Mqtt } = require('azure-iot-device-mqtt');
const h = require('./helpers');

// Node decodes the property bag with decodeURIComponent after splitting on
// '&' and '=', so the server must percent-encode all of these.
const TRICKY = {
  'a b': 'x&y=z',
  'ünïcødé-kéy': 'snow ☃ / 雪',
  'plus+sign': '1+1=2',
  'percent%': '100%',
  'slash/key': 'a/b?c#d',
  empty: '', // must arrive as `empty=`: a bare key would read "undefined"
};

function propertiesOf(msg) {
  const out = {};
  for (const { key, value } of msg.properties.propertyList) out[key] = value;
  return out;
}

function watch(client) {
  const seen = { errors: [], disconnects: [] };
  client.on('error', (err) => seen.errors.push(err));
  client.on('disconnect', (res) => seen.disconnects.push(res));
  return seen;
}

async function openReceiving(client) {
  await client.setOptions({ ca: h.caPem() });
  await h.withTimeout(client.open(), 60, 'client.open()');
  const inbox = new h.Inbox();
  client.on('message', (msg) => inbox.push(msg));
  return inbox;
}

test('C2D message with system and application properties', { timeout: 120000 }, async () => {
  const reg = h.registry();
  const device = await h.createDevice(reg, 'node-c2d');
  const client = Client.fromConnectionString(h.deviceConnectionString(device), Mqtt);
  const seen = watch(client);
  try {
    const inbox = await openReceiving(client);
    const messageId = `mid ${crypto.randomUUID()}`;
    const correlationId = `cid/${crypto.randomUUID()}`;
    const body = { command: 'light', on: true, text: 'héllo ☃' };
    await h.c2dSend(device.deviceId, JSON.stringify(body), {
      properties: TRICKY, messageId, correlationId,
      contentType: 'application/json', contentEncoding: 'utf-8', ttl: 600,
    });

    const msg = await inbox.next(30, 'the C2D message');
    assert.deepEqual(JSON.parse(msg.data.toString('utf8')), body);
    assert.equal(msg.messageId, messageId);
    assert.equal(msg.correlationId, correlationId);
    assert.equal(msg.contentType, 'application/json');
    assert.equal(msg.contentEncoding, 'utf-8');
    assert.equal(msg.to, `/devices/${device.deviceId}/messages/devicebound`);
    assert.ok(msg.expiryTimeUtc, 'a message with --ttl must carry $.exp');
    const expiresIn = Date.parse(msg.expiryTimeUtc) - Date.now();
    assert.ok(expiresIn > 500000 && expiresIn <= 600000, `$.exp ${msg.expiryTimeUtc} is not ~600 s ahead`);
    // iothub-ack is a plain property for Node; a bare key would read "undefined"
    assert.deepEqual(propertiesOf(msg), { ...TRICKY, 'iothub-ack': 'none' });

    // complete() is a no-op over MQTT (the PUBACK already settled it), reject/abandon throw
    await h.withTimeout(client.complete(msg), 10, 'client.complete(msg)');

    const plainId = await h.c2dSend(device.deviceId, 'just text');
    const plain = await inbox.next(30, 'the plain C2D message');
    assert.equal(plain.data.toString('utf8'), 'just text');
    assert.equal(plain.messageId, plainId);
    assert.equal(plain.correlationId, '', 'no $.cid (Message defaults correlationId to "")');
    assert.equal(plain.contentType, undefined);
    assert.deepEqual(propertiesOf(plain), { 'iothub-ack': 'none' });
    assert.deepEqual(seen.disconnects, []);
    assert.deepEqual(seen.errors, []);
  } finally {
    await client.close().catch(() => {});
    await h.deleteQuietly(reg, device.deviceId);
  }
});

test('token renewal reconnect keeps the C2D subscription', { timeout: 150000 }, async () => {
  const reg = h.registry();
  const device = await h.createDevice(reg, 'node-c2d-renew');
  const auth = SharedAccessKeyAuthenticationProvider.fromConnectionString(h.deviceConnectionString(device));
  const client = Client.fromAuthenticationProvider(auth, Mqtt);
  const seen = watch(client);
  try {
    // tokens valid 20 s, renewed 15 s before expiry -> DISCONNECT + CONNECT
    // (clean=0, same client id) with a new token every 5 s
    await client.setOptions({
      ca: h.caPem(),
      tokenRenewal: { tokenValidTimeInSeconds: 20, tokenRenewalMarginInSeconds: 15 },
    });
    const inbox = await openReceiving(client);
    const before = await h.c2dSend(device.deviceId, 'before renewal');
    assert.equal((await inbox.next(30, 'the C2D message before renewal')).messageId, before);

    for (const round of [1, 2]) {
      await h.nextEvent(auth, 'newTokenAvailable', 60, `SAS renewal #${round}`);
      // The transport is reconnecting now; a telemetry send completes only
      // once the new connection is up. The SDK does not subscribe again, so
      // the message below arrives only if the server kept the session's
      // subscription to devices/{id}/messages/devicebound/#.
      await h.withTimeout(client.sendEvent(new Message(`ping ${round}`)),
        60, `sendEvent after renewal #${round}`);
      const id = await h.c2dSend(device.deviceId, `after renewal ${round}`);
      const msg = await inbox.next(30, `the C2D message sent after renewal #${round}`);
      assert.equal(msg.messageId, id);
      assert.equal(msg.data.toString('utf8'), `after renewal ${round}`);
    }
    assert.deepEqual(seen.disconnects, [], 'the client reported a disconnect (renewed token refused?)');
  } finally {
    await client.close().catch(() => {});
    await h.deleteQuietly(reg, device.deviceId);
  }
});
