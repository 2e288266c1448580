'use strict';
// Device and module twins: azure-iot-device's Twin over MQTT, azure-iothub's
// Registry over REST (GET/PATCH /twins/{id}, If-Match with the quoted etag).

const { test } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const { promisify } = require('node:util');
const { Client, ModuleClient } = require('azure-iot-device');
const { Mqtt } = require('azure-iot-device-mqtt');
const h = require('./helpers');

function withoutMetadata(props) {
  return Object.fromEntries(Object.entries(props).filter(([k]) => !k.startsWith('$')));
}

// Listen for desired-property deltas and wait until the SUBSCRIBE to
// $iothub/twin/PATCH/properties/desired/# was acknowledged. twin.on() starts
// the subscription without reporting completion, and the hub drops desired
// notifications for unsubscribed devices, so we ask the twin to enable the
// updates once more with a callback (the transport's subscribe, idempotent).
async function desiredInbox(twin) {
  const inbox = new h.Inbox();
  twin.on('properties.desired', (delta) => inbox.push(delta));
  await h.withTimeout(promisify(twin.enableTwinDesiredPropertiesUpdates.bind(twin))(), 30,
    'enabling desired-property updates');
  return inbox;
}

// The next delta that contains `key`; Node first emits the current desired
// properties when the listener is added, which are skipped here.
async function nextDeltaWith(inbox, key, timeoutS = 30) {
  const deadline = Date.now() + timeoutS * 1000;
  for (;;) {
    const remaining = Math.max(0.1, (deadline - Date.now()) / 1000);
    const delta = await inbox.next(remaining, `a desired-properties delta with ${key}`);
    if (key in delta) return delta;
  }
}

function reportedUpdate(twin, patch) {
  return h.withTimeout(promisify(twin.properties.reported.update.bind(twin.properties.reported))(patch),
    30, 'twin.properties.reported.update');
}

test('device twin: get, reported update, desired notification, etags', { timeout: 120000 }, async () => {
  const reg = h.registry();
  const device = await h.createDevice(reg, 'node-twin');
  const client = Client.fromConnectionString(h.deviceConnectionString(device), Mqtt);
  try {
    await client.setOptions({ ca: h.caPem() });
    await h.withTimeout(client.open(), 60, 'client.open()');
    const twin = await h.withTimeout(client.getTwin(), 30, 'client.getTwin()');
    assert.equal(typeof twin.properties.desired.$version, 'number');
    assert.equal(typeof twin.properties.reported.$version, 'number');
    const reportedVersion = twin.properties.reported.$version;

    await reportedUpdate(twin, { temperature: 21.5, firmware: { version: '1.0.3', ok: true }, name: 'héllo ☃' });
    await reportedUpdate(twin, { name: null, firmware: { ok: false } });
    const { responseBody: serviceTwin } = await reg.getTwin(device.deviceId);
    assert.equal(serviceTwin.deviceId, device.deviceId);
    assert.deepEqual(withoutMetadata(serviceTwin.properties.reported),
      { temperature: 21.5, firmware: { version: '1.0.3', ok: false } });
    assert.equal(serviceTwin.properties.reported.$version, reportedVersion + 2);

    const inbox = await desiredInbox(twin);
    const fw = `2.0.${crypto.randomUUID().slice(0, 6)}`;
    const { responseBody: updated } = await reg.updateTwin(device.deviceId,
      { tags: { site: 'lab-1' }, properties: { desired: { fw, interval: 5 } } }, serviceTwin.etag);
    assert.ok(updated.etag && updated.etag !== serviceTwin.etag, 'the twin etag must change on update');
    assert.deepEqual(updated.tags, { site: 'lab-1' });

    const delta = await nextDeltaWith(inbox, 'fw');
    assert.equal(delta.fw, fw);
    assert.equal(delta.interval, 5);
    assert.equal(delta.$version, updated.properties.desired.$version);
    // the SDK merges deltas into its local copy
    assert.equal(twin.properties.desired.fw, fw);

    // stale etag -> 412 -> InvalidEtagError; nothing changes
    await assert.rejects(
      reg.updateTwin(device.deviceId, { properties: { desired: { fw: 'stale' } } }, serviceTwin.etag),
      (err) => {
        assert.equal(err.name, 'InvalidEtagError', `got ${err.name}: ${err.message}`);
        assert.equal(err.response && err.response.statusCode, 412);
        return true;
      });
    assert.equal((await reg.getTwin(device.deviceId)).responseBody.properties.desired.fw, fw);

    // the device's fresh GET agrees
    const again = await h.withTimeout(client.getTwin(), 30, 'second client.getTwin()');
    assert.equal(again.properties.desired.fw, fw);
  } finally {
    await client.close().catch(() => {});
    await h.deleteQuietly(reg, device.deviceId);
  }
});

test('module twin: reported update and desired notification', { timeout: 120000 }, async () => {
  const reg = h.registry();
  const device = await h.createDevice(reg, 'node-modtwin');
  let client;
  try {
    const mod = await h.createModule(reg, device.deviceId);
    client = ModuleClient.fromConnectionString(h.moduleConnectionString(mod), Mqtt);
    await client.setOptions({ ca: h.caPem() });
    await h.withTimeout(client.open(), 60, 'moduleClient.open()');
    const twin = await h.withTimeout(client.getTwin(), 30, 'moduleClient.getTwin()');
    assert.equal(typeof twin.properties.desired.$version, 'number');
    await reportedUpdate(twin, { moduleState: 'running' });

    const { responseBody: serviceTwin } = await reg.getModuleTwin(device.deviceId, mod.moduleId);
    assert.equal(serviceTwin.moduleId, mod.moduleId);
    assert.equal(serviceTwin.properties.reported.moduleState, 'running');
    const { responseBody: deviceTwin } = await reg.getTwin(device.deviceId);
    assert.equal(deviceTwin.properties.reported.moduleState, undefined, 'module and device twins are separate');

    const inbox = await desiredInbox(twin);
    const { responseBody: updated } = await reg.updateModuleTwin(device.deviceId, mod.moduleId,
      { properties: { desired: { logLevel: 'debug' } } }, serviceTwin.etag);
    const delta = await nextDeltaWith(inbox, 'logLevel');
    assert.equal(delta.logLevel, 'debug');
    assert.equal(delta.$version, updated.properties.desired.$version);
  } finally {
    if (client) await client.close().catch(() => {});
    await h.deleteQuietly(reg, device.deviceId);
  }
});

test('service Twin.update on a never-written twin uses the etag it just read', { timeout: 60000 }, async () => {
  // azure-iothub's documented pattern: registry.getTwin(), then twin.update(patch),
  // which sends If-Match with the etag of that GET.
  const reg = h.registry();
  const device = await h.createDevice(reg, 'node-twin-fresh');
  try {
    const { responseBody: first } = await reg.getTwin(device.deviceId);
    const { responseBody: second } = await reg.getTwin(device.deviceId);
    assert.equal(first.etag, second.etag, 'the etag of an unchanged twin must not change between GETs');
    const before = second.etag;
    // Twin.update resolves with the same Twin object, refreshed from the answer.
    const { result: updated } = await second.update({ tags: { site: 'lab-2' } });
    assert.deepEqual(updated.tags, { site: 'lab-2' });
    assert.notEqual(updated.etag, before);
  } finally {
    await h.deleteQuietly(reg, device.deviceId);
  }
});
