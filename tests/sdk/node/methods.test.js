'use strict';
// Direct methods: azure-iot-device's onDeviceMethod / ModuleClient.onMethod
// answer, azure-iothub's Client.invokeDeviceMethod calls them over HTTPS
// (POST /twins/{id}[/modules/{mid}]/methods).
//
// onDeviceMethod subscribes without reporting completion, so the calls pass
// connectTimeoutInSeconds: the hub then waits for the device to be online
// and subscribed instead of answering 404 at once.

const { test } = require('node:test');
const assert = require('node:assert/strict');
const { Client, ModuleClient } = require('azure-iot-device');
const { Mqtt } = require('azure-iot-device-mqtt');
const ServiceClient = require('azure-iothub').Client;
const h = require('./helpers');

const serviceClient = () => ServiceClient.fromConnectionString(h.env('IOTHUB_CONNECTION_STRING'));

function answering(inbox, status = 200) {
  return (request, response) => {
    inbox.push(request);
    response.send(status, { ok: true, method: request.methodName, echo: request.payload }, (err) => {
      if (err) inbox.push(err);
    });
  };
}

test('device method round trip', { timeout: 120000 }, async () => {
  const reg = h.registry();
  const device = await h.createDevice(reg, 'node-meth');
  const client = Client.fromConnectionString(h.deviceConnectionString(device), Mqtt);
  const service = serviceClient();
  try {
    await client.setOptions({ ca: h.caPem() });
    await h.withTimeout(client.open(), 60, 'client.open()');
    const requests = new h.Inbox();
    client.onDeviceMethod('reboot', answering(requests));
    client.onDeviceMethod('noPayload', answering(requests, 201));

    const payload = { delay: 3, reason: 'héllo ☃', list: [1, null, 'x'] };
    const { result } = await h.withTimeout(service.invokeDeviceMethod(device.deviceId, {
      methodName: 'reboot', payload, responseTimeoutInSeconds: 30, connectTimeoutInSeconds: 30,
    }), 90, 'invokeDeviceMethod(reboot)');
    assert.equal(result.status, 200);
    assert.deepEqual(result.payload, { ok: true, method: 'reboot', echo: payload });
    const request = await requests.next(5, 'the method request on the device');
    assert.equal(request.methodName, 'reboot');
    assert.deepEqual(request.payload, payload);
    assert.ok(request.requestId);

    // Node sends payload null: the device must get the JSON text `null`, not
    // an empty body (which Node would answer itself with 400)
    const { result: second } = await h.withTimeout(service.invokeDeviceMethod(device.deviceId, {
      methodName: 'noPayload', responseTimeoutInSeconds: 10,
    }), 30, 'invokeDeviceMethod(noPayload)');
    assert.equal(second.status, 201);
    assert.deepEqual(second.payload, { ok: true, method: 'noPayload', echo: null });
    assert.equal((await requests.next(5, 'the second method request')).payload, null);
  } finally {
    await client.close().catch(() => {});
    await h.deleteQuietly(reg, device.deviceId);
  }
});

test('method on an offline device fails with 404 DeviceNotOnline', { timeout: 60000 }, async () => {
  const reg = h.registry();
  const device = await h.createDevice(reg, 'node-meth-off');
  try {
    const started = Date.now();
    await assert.rejects(serviceClient().invokeDeviceMethod(device.deviceId, {
      methodName: 'reboot', payload: {}, responseTimeoutInSeconds: 5,
    }), (err) => {
      assert.equal(err.response && err.response.statusCode, 404, `got ${err.name}: ${err.message}`);
      assert.match(String(err.responseBody), /DeviceNotOnline/);
      return true;
    });
    assert.ok(Date.now() - started < 5000, 'connectTimeoutInSeconds 0 must fail at once');
  } finally {
    await h.deleteQuietly(reg, device.deviceId);
  }
});

test('module method round trip', { timeout: 120000 }, async () => {
  const reg = h.registry();
  const device = await h.createDevice(reg, 'node-modmeth');
  let client;
  try {
    const mod = await h.createModule(reg, device.deviceId);
    client = ModuleClient.fromConnectionString(h.moduleConnectionString(mod), Mqtt);
    await client.setOptions({ ca: h.caPem() });
    await h.withTimeout(client.open(), 60, 'moduleClient.open()');
    const requests = new h.Inbox();
    client.onMethod('getConfig', answering(requests));

    const { result } = await h.withTimeout(serviceClient().invokeDeviceMethod(device.deviceId, mod.moduleId, {
      methodName: 'getConfig', payload: { k: 'v' }, responseTimeoutInSeconds: 10, connectTimeoutInSeconds: 30,
    }), 60, 'invokeDeviceMethod(module getConfig)');
    assert.equal(result.status, 200);
    assert.deepEqual(result.payload, { ok: true, method: 'getConfig', echo: { k: 'v' } });
    const request = await requests.next(5, "the module's method request");
    assert.equal(request.methodName, 'getConfig');
  } finally {
    if (client) await client.close().catch(() => {});
    await h.deleteQuietly(reg, device.deviceId);
  }
});
