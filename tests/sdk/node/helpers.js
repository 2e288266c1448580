'use strict';
// Helpers shared by the Node SDK compatibility tests. The environment is
// prepared by ../run.sh (FERROHUB_BIN, FERROHUB_DATA_DIR, FERROHUB_CA,
// IOTHUB_CONNECTION_STRING, NODE_EXTRA_CA_CERTS).

const crypto = require('node:crypto');
const fs = require('node:fs');
const { execFile } = require('node:child_process');
const { Registry } = require('azure-iothub');

function env(name) {
  const value = process.env[name];
  if (!value) {
    throw new Error(`environment variable ${name} is not set; run tests/sdk/run.sh`);
  }
  return value;
}

function parseConnectionString(cs) {
  const out = {};
  for (const part of cs.split(';')) {
    if (!part) continue;
    const i = part.indexOf('=');
    out[part.slice(0, i)] = part.slice(i + 1);
  }
  return out;
}

const hubHostname = () => parseConnectionString(env('IOTHUB_CONNECTION_STRING')).HostName;
const caPem = () => fs.readFileSync(env('FERROHUB_CA'), 'utf8');
const uniqueId = (prefix) => `${prefix}-${crypto.randomUUID().slice(0, 12)}`;
const registry = () => Registry.fromConnectionString(env('IOTHUB_CONNECTION_STRING'));

function deviceConnectionString(device) {
  return `HostName=${hubHostname()};DeviceId=${device.deviceId};` +
    `SharedAccessKey=${device.authentication.symmetricKey.primaryKey}`;
}

function moduleConnectionString(module) {
  return `HostName=${hubHostname()};DeviceId=${module.deviceId};ModuleId=${module.moduleId};` +
    `SharedAccessKey=${module.authentication.symmetricKey.primaryKey}`;
}

// Run a ferrohub CLI command (data dir from FERROHUB_DATA_DIR); resolves with stdout.
function ferrohub(args, timeoutS = 60) {
  return new Promise((resolve, reject) => {
    execFile(env('FERROHUB_BIN'), args, { timeout: timeoutS * 1000, maxBuffer: 64 << 20 },
      (err, stdout, stderr) => {
        if (err) {
          reject(new Error(`ferrohub ${args.join(' ')} failed: ${err.message}\nstdout:\n${stdout}\nstderr:\n${stderr}`));
        } else {
          resolve(stdout);
        }
      });
  });
}

// Queue a cloud-to-device message with `ferrohub c2d send` (the service SDK's
// Client.send speaks AMQP, which ferrohub does not implement). Resolves with
// the message id the CLI printed.
async function c2dSend(deviceId, data, opts = {}) {
  const args = ['c2d', 'send', deviceId, '--data', data];
  for (const [k, v] of Object.entries(opts.properties || {})) args.push('--property', `${k}=${v}`);
  const flags = {
    messageId: '--message-id', correlationId: '--correlation-id', contentType: '--content-type',
    contentEncoding: '--content-encoding', ack: '--ack', ttl: '--ttl',
  };
  for (const [key, flag] of Object.entries(flags)) {
    if (opts[key] !== undefined) args.push(flag, String(opts[key]));
  }
  const id = (await ferrohub(args)).trim();
  if (!id) throw new Error(`ferrohub ${args.join(' ')} printed no message id`);
  return id;
}

// Collects what a handler receives; next() resolves with the oldest item not
// yet taken, waiting at most timeoutS for one to arrive.
class Inbox {
  constructor() {
    this.items = [];
    this.waiters = [];
  }

  push(item) {
    const waiter = this.waiters.shift();
    if (waiter) waiter(item);
    else this.items.push(item);
  }

  next(timeoutS, what) {
    if (this.items.length) return Promise.resolve(this.items.shift());
    let resolveItem;
    const p = new Promise((resolve) => { resolveItem = resolve; });
    this.waiters.push(resolveItem);
    return withTimeout(p, timeoutS, `waiting for ${what}`).catch((err) => {
      this.waiters = this.waiters.filter((w) => w !== resolveItem);
      throw err;
    });
  }
}

// One pass of `ferrohub monitor --json` over everything the device sent
// (data dir from FERROHUB_DATA_DIR).
function runMonitor(deviceId, timeoutS = 3) {
  const args = ['monitor', '--device', deviceId, '--from', 'earliest',
    '--timeout', String(timeoutS), '--json'];
  return new Promise((resolve, reject) => {
    execFile(env('FERROHUB_BIN'), args, { timeout: (timeoutS + 60) * 1000, maxBuffer: 64 << 20 },
      (err, stdout, stderr) => {
        if (err) {
          reject(new Error(`ferrohub ${args.join(' ')} failed: ${err.message}\nstdout:\n${stdout}\nstderr:\n${stderr}`));
          return;
        }
        try {
          resolve(stdout.split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l)));
        } catch (e) {
          reject(new Error(`monitor printed non-JSON output: ${e.message}\n${stdout}`));
        }
      });
  });
}

// Poll the monitor until at least `count` events are visible, bounded by `deadlineS`.
async function readEvents(deviceId, count, deadlineS = 30) {
  const deadline = Date.now() + deadlineS * 1000;
  for (;;) {
    const events = await runMonitor(deviceId);
    if (events.length >= count) return events;
    if (Date.now() > deadline) {
      throw new Error(`expected >= ${count} events for ${deviceId} within ${deadlineS}s, got ${events.length}: ` +
        JSON.stringify(events));
    }
  }
}

function byMessageId(events) {
  const out = {};
  for (const e of events) out[(e.systemProperties || {})['message-id']] = e;
  return out;
}

// Resolve with the arguments of the next `event` on `emitter`; reject after timeoutS.
function nextEvent(emitter, event, timeoutS, what) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      emitter.removeListener(event, onEvent);
      reject(new Error(`timed out after ${timeoutS}s waiting for ${what || event}`));
    }, timeoutS * 1000);
    function onEvent(...args) {
      clearTimeout(timer);
      resolve(args);
    }
    emitter.once(event, onEvent);
  });
}

// Race a promise against a deadline.
function withTimeout(promise, timeoutS, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${timeoutS}s: ${what}`)), timeoutS * 1000);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

// Create a fresh SAS device with server-generated keys; returns the Device.
async function createDevice(reg, prefix = 'node') {
  const deviceId = uniqueId(prefix);
  const { responseBody } = await reg.create({ deviceId, status: 'enabled' });
  return responseBody;
}

// Create a SAS module of `deviceId`; returns the Module (with its keys).
async function createModule(reg, deviceId, prefix = 'nmod') {
  const moduleId = uniqueId(prefix);
  await reg.addModule({ deviceId, moduleId });
  const { responseBody } = await reg.getModule(deviceId, moduleId);
  return responseBody;
}

async function deleteQuietly(reg, deviceId) {
  try {
    await reg.delete(deviceId);
  } catch (_) {
    // already gone
  }
}

module.exports = {
  env, parseConnectionString, hubHostname, caPem, uniqueId, registry,
  deviceConnectionString, moduleConnectionString, runMonitor, readEvents,
  byMessageId, nextEvent, withTimeout, createDevice, deleteQuietly,
  ferrohub, c2dSend, Inbox, createModule,
};
