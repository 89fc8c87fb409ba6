// No message lost or doubled when a node dies: the cluster chat (examples/cluster) on two
// luahub nodes and a real redis-server, all started here on free loopback ports and
// stopped by PID. Each node is reached through a TCP relay (its address in NODE_URLS), as
// behind a network path the spec can hold shut. A writer page (served by node 2) sends a
// message every 250 ms; a reader page (served by node 1) watches. Node 1, the reader's,
// is killed (SIGKILL) while node 2 takes no new connection for a while: the writer goes
// on sending there, and the reader, let in after three messages, recovers them from
// Redis. Node 1 comes back, then node 2, now both pages', is killed: both move to node 1.
// The reader shows every message the writer shows, exactly once, in order, and was never
// told that some were missed (the history lived in Redis all along). Last, a page that
// comes while Redis is down is refused the lobby ("unavailable") and joins it by itself
// once Redis is back.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { assertSameOnceInOrder, BIN, CHROMIUM, CHROMIUM_ARGS, freePort, numbered, RECONNECT_WAIT, relay, ROOT,
  sendSteadily, startServer, stopServer, until, WAIT }
  from '../../../chat/spec/browser/support.mjs';
import { listening } from '../../../../spec/browser/browser.mjs';

const SCRIPT = path.join(ROOT, 'examples/cluster/hub.lua');

let browser;
let redis;
let tmp;
const nodes = [];   // { id, port, server, relay }

// redis-server on port (a free loopback one by default), keeping nothing on disk.
async function startRedis(port) {
  port ??= await freePort();
  tmp ??= fs.mkdtempSync(path.join(os.tmpdir(), 'luahub-failover-'));
  const proc = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '',
    '--appendonly', 'no', '--dir', tmp, '--protected-mode', 'no'], { stdio: ['ignore', 'pipe', 'pipe'] });
  const server = { proc, port, log: '', exited: false };
  proc.stdout.on('data', (chunk) => { server.log += chunk; });
  proc.stderr.on('data', (chunk) => { server.log += chunk; });
  proc.once('error', (err) => { server.log += String(err); server.exited = true; });
  proc.once('exit', () => { server.exited = true; });
  await until(`redis-server to listen on ${port}`, WAIT, async () => {
    if (server.exited) throw new Error(`redis-server did not start (scripts/deps.sh cluster installs it):\n${server.log}`);
    return listening(port);
  });
  return server;
}

async function clusterIs(state, port) {
  try {
    return (await (await fetch(`http://127.0.0.1:${port}/healthz`)).text()).includes(`"cluster":"${state}"`);
  } catch {
    return false;
  }
}

// Starts (or starts again) node i on its port; resolves once it is in the cluster.
async function startNode(i) {
  const node = nodes[i];
  node.server = await startServer(node.port, {
    script: SCRIPT,
    env: {
      NODE_ID: node.id,
      REDIS_URL: `redis://127.0.0.1:${redis.port}`,
      NODE_URLS: nodes.map((n) => `http://127.0.0.1:${n.relay.port}`).join(' '),
    },
  });
  await until(`${node.id} to join the cluster`, WAIT, () => clusterIs('ok', node.port));
}

before(async () => {
  assert.ok(fs.existsSync(BIN), `luahub binary not found at ${BIN} (run make)`);
  redis = await startRedis();
  for (const id of ['node-1', 'node-2']) {
    const port = await freePort();
    nodes.push({ id, port, server: null, relay: await relay(port) });
  }
  await startNode(0);
  await startNode(1);
  browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
});

after(async () => {
  if (browser) await browser.close();
  for (const node of nodes) {
    await stopServer(node.server);
    await node.relay.close();
  }
  await stopServer(redis);
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

process.on('exit', () => {
  for (const s of [redis, ...nodes.map((n) => n.server)]) if (s && !s.exited) s.proc.kill('SIGKILL');
});

// A page of node, logged in as name (connected, not yet known to be in the lobby).
async function visit(node, name, errors) {
  const page = await (await browser.newContext()).newPage();
  page.on('pageerror', (err) => errors.push(`${name}: ${err.message}`));
  await page.goto(`http://127.0.0.1:${node.relay.port}/`);
  await page.fill('#name', name);
  await page.press('#name', 'Enter');
  await onNode(page, node);
  return page;
}

async function openPage(node, name, errors) {
  const page = await visit(node, name, errors);
  await page.locator('.notice', { hasText: `${name} joined on ${node.id}` }).waitFor({ timeout: WAIT });
  return page;
}

// Resolves once the page is connected to node.
async function onNode(page, node, timeout = WAIT) {
  await page.locator('#state[data-state="connected"]').waitFor({ timeout });
  await page.locator('#node', { hasText: node.id }).waitFor({ timeout });
}

// The "n<k>" messages on a page, in the order shown.
const shown = (page) => numbered(page, '.msg .text');

async function grows(page, by, what) {
  const from = (await shown(page)).length;
  await until(what, RECONNECT_WAIT, async () => (await shown(page)).length >= from + by);
}

test('a page shows every message exactly once, in order, while its node and then the writer\'s are killed', async () => {
  const errors = [];
  const [one, two] = nodes;
  const writer = await openPage(two, 'writer', errors);
  const reader = await openPage(one, 'reader', errors);
  const sender = sendSteadily(writer, async () => await writer.getAttribute('#state', 'data-state') === 'connected');
  let sent;
  try {
    await grows(reader, 5, 'messages to reach the reader before any node dies');

    two.relay.hold();
    await stopServer(one.server, true);   // the reader's node
    await reader.locator('#state:not([data-state="connected"])').waitFor({ timeout: WAIT });
    const away = (await shown(writer)).length;
    await grows(writer, 3, 'the writer to send while the reader is away');
    const missed = (await shown(writer)).slice(away);
    two.relay.restore();
    await onNode(reader, two, RECONNECT_WAIT);
    await until('the reader to recover what it missed', WAIT, async () => {
      const seen = await shown(reader);
      return missed.every((text) => seen.includes(text));
    });
    await grows(reader, 5, 'messages to reach the reader on node 2');

    await startNode(0);
    await stopServer(two.server, true);   // the writer's node, and now the reader's too
    await onNode(writer, one, RECONNECT_WAIT);
    await onNode(reader, one, RECONNECT_WAIT);
    await grows(writer, 5, 'the writer to send again on node 1');
  } finally {
    sent = await sender.stop();
  }
  const numbers = await assertSameOnceInOrder(reader, writer, shown);
  assert.ok(numbers.length >= 15, `messages before, between and after the kills: ${numbers.length}`);
  assert.ok(sent - numbers.length <= 3, `few messages lost to the kills (sent ${sent}, shown ${numbers.length})`);
  for (const page of [reader, writer]) {
    assert.equal(await page.locator('.notice', { hasText: 'Some messages were missed' }).count(), 0,
      'the history lived in Redis: every recovery was complete');
  }
  assert.deepEqual(errors, []);
});

test('a page that comes while Redis is down joins the lobby by itself once Redis is back', async () => {
  const errors = [];
  const [one] = nodes;
  await stopServer(redis);
  await until('node 1 to notice Redis is gone', WAIT, () => clusterIs('degraded', one.port));
  const late = await visit(one, 'late', errors);
  await late.locator('.notice', { hasText: 'Cannot join the lobby (unavailable)' }).waitFor({ timeout: WAIT });

  redis = await startRedis(redis.port);
  await until('node 1 to reconnect to Redis', RECONNECT_WAIT, () => clusterIs('ok', one.port));
  await late.locator('.notice', { hasText: 'late joined on node-1' }).waitFor({ timeout: RECONNECT_WAIT });
  await late.fill('#text', 'back in');
  await late.press('#text', 'Enter');
  await late.locator('.msg .text', { hasText: 'back in' }).waitFor({ timeout: WAIT });
  assert.equal(await late.locator('.notice', { hasText: 'Cannot join' }).count(), 1, 'said once, not on every try');
  await late.context().close();
  assert.deepEqual(errors, []);
});
