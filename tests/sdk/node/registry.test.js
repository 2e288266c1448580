'use strict';
// Identity registry over the service REST API via azure-iothub's Registry.

const { test } = require('node:test');
const assert = require('node:assert/strict');
const h = require('./helpers');

function assertKey(key) {
  assert.ok(key, 'server must generate a key when the SDK sends an empty one');
  assert.ok(Buffer.from(key, 'base64').length >= 16, `key ${key} is not a base64 key`);
}

test('device create / get / update / list / delete', async () => {
  const reg = h.registry();
  const deviceId = h.uniqueId('node-reg');
  try {
    // create: PUT /devices/{id} with authentication.symmetricKey = "" / ""
    const { responseBody: created } = await reg.create({ deviceId, status: 'enabled' });
    assert.equal(created.deviceId, deviceId);
    assert.equal(created.status, 'enabled');
    assert.ok(created.etag);
    assert.equal(created.authentication.type, 'sas');
    const { primaryKey, secondaryKey } = created.authentication.symmetricKey;
    assertKey(primaryKey);
    assertKey(secondaryKey);
    assert.notEqual(primaryKey, secondaryKey);

    const { responseBody: got, httpResponse } = await reg.get(deviceId);
    assert.equal(httpResponse.statusCode, 200);
    assert.equal(got.deviceId, deviceId);
    assert.equal(got.authentication.symmetricKey.primaryKey, primaryKey);
    assert.equal(got.authentication.symmetricKey.secondaryKey, secondaryKey);

    // update sends If-Match: "*" (quoted star)
    const { responseBody: updated } = await reg.update({
      deviceId, status: 'disabled', authentication: got.authentication,
    });
    assert.equal(updated.status, 'disabled');
    assert.equal(updated.authentication.symmetricKey.primaryKey, primaryKey);
    assert.equal((await reg.get(deviceId)).responseBody.status, 'disabled');

    const { responseBody: list } = await reg.list();
    assert.ok(Array.isArray(list));
    assert.ok(list.some((d) => d.deviceId === deviceId), 'list() must include the new device');

    const { httpResponse: delResp } = await reg.delete(deviceId);
    assert.equal(delResp.statusCode, 204);

    await assert.rejects(reg.get(deviceId), (err) => {
      // 404 + ErrorCode:DeviceNotFound -> DeviceNotFoundError
      assert.equal(err.name, 'DeviceNotFoundError', `got ${err.name}: ${err.message}`);
      assert.equal(err.response && err.response.statusCode, 404);
      return true;
    });
  } finally {
    await h.deleteQuietly(reg, deviceId);
  }
});

test('creating an existing device fails with DeviceAlreadyExistsError (409)', async () => {
  const reg = h.registry();
  const device = await h.createDevice(reg, 'node-dup');
  try {
    await assert.rejects(reg.create({ deviceId: device.deviceId, status: 'enabled' }), (err) => {
      assert.equal(err.name, 'DeviceAlreadyExistsError', `got ${err.name}: ${err.message}`);
      assert.equal(err.response && err.response.statusCode, 409);
      return true;
    });
  } finally {
    await h.deleteQuietly(reg, device.deviceId);
  }
});

test('registry statistics count enabled and disabled devices', async () => {
  const reg = h.registry();
  const { responseBody: before } = await reg.getRegistryStatistics();
  const on = h.uniqueId('node-stat-on');
  const off = h.uniqueId('node-stat-off');
  try {
    await reg.create({ deviceId: on, status: 'enabled' });
    await reg.create({ deviceId: off, status: 'disabled' });
    const { responseBody: after } = await reg.getRegistryStatistics();
    // test files run one at a time (--test-concurrency=1), tests in a file serially
    assert.equal(after.totalDeviceCount, before.totalDeviceCount + 2);
    assert.equal(after.enabledDeviceCount, before.enabledDeviceCount + 1);
    assert.equal(after.disabledDeviceCount, before.disabledDeviceCount + 1);
  } finally {
    await h.deleteQuietly(reg, on);
    await h.deleteQuietly(reg, off);
  }
});

test('module add / get / list / remove', async () => {
  const reg = h.registry();
  const device = await h.createDevice(reg, 'node-mod');
  const deviceId = device.deviceId;
  try {
    const moduleId = h.uniqueId('m');
    await reg.addModule({ deviceId, moduleId });
    const { responseBody: mod } = await reg.getModule(deviceId, moduleId);
    assert.equal(mod.deviceId, deviceId);
    assert.equal(mod.moduleId, moduleId);
    assert.ok(mod.etag);
    assertKey(mod.authentication.symmetricKey.primaryKey);
    assertKey(mod.authentication.symmetricKey.secondaryKey);

    const other = h.uniqueId('m');
    await reg.addModule({ deviceId, moduleId: other });
    const { responseBody: mods } = await reg.getModulesOnDevice(deviceId);
    assert.deepEqual(mods.map((m) => m.moduleId).sort(), [moduleId, other].sort());

    const { httpResponse } = await reg.removeModule(deviceId, moduleId);
    assert.equal(httpResponse.statusCode, 204);
    await assert.rejects(reg.getModule(deviceId, moduleId), (err) => {
      assert.equal(err.response && err.response.statusCode, 404);
      return true;
    });
    const { responseBody: left } = await reg.getModulesOnDevice(deviceId);
    assert.deepEqual(left.map((m) => m.moduleId), [other]);
  } finally {
    await h.deleteQuietly(reg, deviceId);
  }
});
