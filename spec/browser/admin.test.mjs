// The admin page (/admin/) in headless Chromium (Debian's /usr/bin/chromium driven by npm
// playwright-core) against real luahub servers: refused without the key, live numbers
// under load, the room view, the console, two cluster nodes over a real redis-server,
// axe-core with no serious violation at desktop and phone sizes, and the screenshots
// docs/img/admin-desktop.png and admin-phone.png. Every wait has a deadline.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { CHROMIUM, CHROMIUM_ARGS, freePort, listening } from './browser.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const BIN = process.env.LUAHUB_BIN || path.join(ROOT, 'build/luahub');
const HUB = path.join(ROOT, 'spec/browser/admin_hub.lua');
const CLUSTER_HUB = path.join(ROOT, 'examples/cluster/hub.lua');
const SHOTS = path.join(ROOT, 'docs/img');
const AXE = createRequire(import.meta.url).resolve('axe-core/axe.min.js');
const KEY = 'admin-browser-spec-key';
const WAIT = 10000;   // ms for any one expected event
const DESKTOP = { width: 1280, height: 900 };
const PHONE = { width: 390, height: 844 };

// ------------------------------------------------------------------ processes
async function until(what, predicate, ms = WAIT) {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await predicate()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const started = [];

// Starts a process that listens on port; resolves once it accepts connections.
async function start(cmd, args, port, env = {}) {
  const proc = spawn(cmd, args, { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const p = { proc, port, log: '', exited: false };
  proc.stdout.on('data', (chunk) => { p.log += chunk; });
  proc.stderr.on('data', (chunk) => { p.log += chunk; });
  proc.once('exit', () => { p.exited = true; });
  started.push(p);
  await until(`${path.basename(cmd)} to listen on ${port}`, async () => {
    if (p.exited) throw new Error(`${cmd} exited during startup:\n${p.log}`);
    return listening(port);
  });
  return p;
}

async function luahub(script, config, env) {
  const port = await freePort();
  const p = await start(BIN, ['--listen', `127.0.0.1:${port}`, '--config', JSON.stringify(config), script], port, env);
  return { ...p, url: `http://127.0.0.1:${port}` };
}

// Stops one process by its PID: SIGTERM, SIGKILL if it has not exited in time.
async function stop(p) {
  if (p.exited) return;
  p.proc.kill('SIGTERM');
  try {
    await until(`pid ${p.proc.pid} to exit`, () => p.exited, 5000);
  } catch {
    p.proc.kill('SIGKILL');
  }
}

// ------------------------------------------------------------------ page helpers
let browser;
let single;               // a luahub with the api_key, serving admin_hub.lua
const pageErrors = [];

async function newPage(viewport) {
  const context = await browser.newContext({ viewport, isMobile: viewport === PHONE, hasTouch: viewport === PHONE });
  const page = await context.newPage();
  page.on('pageerror', (err) => pageErrors.push(err.message));
  return page;
}

async function signIn(page, server, key = KEY) {
  await page.goto(`${server.url}/admin/`);
  await page.fill('#key', key);
  await page.click('#login button[type="submit"]');
}

async function live(page) {
  await page.locator('#link[data-state="online"]').waitFor({ timeout: WAIT });
}

const number = async (page, id) => Number((await page.textContent(id)).replace(/[^0-9.]/g, ''));

async function noSeriousViolations(page, where) {
  await page.addScriptTag({ path: AXE });
  const result = await page.evaluate(() => window.axe.run(document, {
    runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'] },
  }));
  const serious = result.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  assert.deepEqual(serious.map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`), [],
    `axe-core found serious violations on the ${where}`);
}

// Clients of admin_hub.lua in a page of their own, each sending to its room every 50 ms.
async function startLoad(server) {
  const page = await newPage(DESKTOP);
  await page.goto(`${server.url}/healthz`);
  await page.evaluate(async (wsUrl) => {
    window.load = [];
    const open = [];
    for (const [room, user] of [['alpha', 'ada'], ['alpha', 'alan'], ['alpha', 'grace'], ['beta', 'linus'], ['gamma', 'barbara']]) {
      const ws = new WebSocket(`${wsUrl}?room=${room}&user=${user}`);
      open.push(new Promise((resolve) => { ws.onopen = resolve; }));
      window.load.push(ws);
    }
    await Promise.all(open);
    window.loadTimer = setInterval(() => window.load.forEach((ws, i) => ws.send(`load ${i} ${Date.now()}`)), 50);
  }, `${server.url.replace('http', 'ws')}/ws`);
  return page;
}

// ------------------------------------------------------------------ the story
before(async () => {
  assert.ok(fs.existsSync(BIN), `luahub binary not found at ${BIN} (run make)`);
  fs.mkdirSync(SHOTS, { recursive: true });
  single = await luahub(HUB, { api_key: KEY, drain_timeout: 0 });
  browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
});

after(async () => {
  if (browser) await browser.close();
  for (const p of started.reverse()) await stop(p);
  assert.deepEqual(pageErrors, [], 'the admin page threw');
});

test('without the key: only the sign-in form, and a wrong key is refused', async () => {
  const page = await newPage(DESKTOP);
  const ticket = await fetch(`${single.url}/api/admin/ticket`, { method: 'POST' });
  assert.equal(ticket.status, 401);
  await signIn(page, single, 'not-the-key');
  await page.locator('#login-error', { hasText: 'That key was refused.' }).waitFor({ timeout: WAIT });
  assert.equal(await page.isVisible('#dash'), false);
  assert.equal(await page.textContent('#link'), 'Signed out');
  await noSeriousViolations(page, 'sign-in form');
  await page.context().close();
});

test('with the key: the numbers move while clients send and the API publishes', async () => {
  const page = await newPage(DESKTOP);
  await signIn(page, single);
  await live(page);
  assert.equal(await page.isVisible('#login'), false);
  const load = await startLoad(single);
  let published = 0;
  const publisher = setInterval(() => {
    published++;
    fetch(`${single.url}/api/publish`, { method: 'POST', headers: { Authorization: `Bearer ${KEY}` },
      body: JSON.stringify({ room: 'alpha', data: `published ${published}` }) }).catch(() => {});
  }, 50);
  try {
    await until('5 connections and 3 rooms on the page', async () =>
      (await number(page, '#v-clients')) === 5 && (await number(page, '#v-rooms')) === 3);
    await until('messages in and out per second above zero', async () =>
      (await number(page, '#v-in')) > 0 && (await number(page, '#v-out')) > (await number(page, '#v-in')));
    const rooms = await page.locator('#rooms tbody tr').allTextContents();
    assert.match(rooms[0], /^alpha\s*3/);
    // a few seconds of history so the charts (and the screenshot) show lines
    await until('six samples in the message chart', async () =>
      (await page.locator('#c-msg polyline').first().getAttribute('points') || '').split(' ').length >= 6);
    assert.match(await page.textContent('#c-msg-d'), /in: [1-9]/);
    assert.match(await page.textContent('#nodes tbody'), /this node/);
    await noSeriousViolations(page, 'dashboard (desktop)');
    await page.screenshot({ path: path.join(SHOTS, 'admin-desktop.png'), fullPage: true });
  } finally {
    clearInterval(publisher);
    await load.context().close();
  }
  await until('the connections back to 0', async () => (await number(page, '#v-clients')) === 0);
  await page.context().close();
});

test('the room view lists a room\'s members with their user ids', async () => {
  const page = await newPage(DESKTOP);
  const load = await startLoad(single);
  await load.evaluate(() => clearInterval(window.loadTimer));
  await signIn(page, single);
  await live(page);
  await page.getByRole('button', { name: 'Members of alpha' }).click();
  await page.locator('#room-note', { hasText: '3 members on all nodes.' }).waitFor({ timeout: WAIT });
  const users = await page.locator('#members tbody tr td:nth-child(2)').allTextContents();
  assert.deepEqual(users.sort(), ['ada', 'alan', 'grace']);
  assert.equal(await page.evaluate(() => document.activeElement.id), 'room-view');
  await load.context().close();
  await page.context().close();
});

test('the console connects to ws_path, sends, and shows the frames both ways', async () => {
  const page = await newPage(DESKTOP);
  await signIn(page, single);
  await live(page);
  assert.equal(await page.inputValue('#console-url'), `${single.url.replace('http', 'ws')}/ws`);
  await page.click('#console-toggle');
  await page.locator('#console-state', { hasText: 'Connected to' }).waitFor({ timeout: WAIT });
  await page.fill('#console-text', 'hello from the console');
  await page.press('#console-text', 'Enter');
  await page.locator('#frames li.out', { hasText: 'hello from the console' }).waitFor({ timeout: WAIT });
  await page.locator('#frames li.in', { hasText: 'hello from the console' }).waitFor({ timeout: WAIT });
  await until('the console client counted', async () => (await number(page, '#v-clients')) === 1);
  await page.click('#console-toggle');
  await page.locator('#frames li.event', { hasText: 'code 1000' }).waitFor({ timeout: WAIT });
  await page.context().close();
});

test('on a phone: signing in by keyboard, no serious violations', async () => {
  const page = await newPage(PHONE);
  await page.goto(`${single.url}/admin/`);
  await page.keyboard.press('Tab');
  assert.equal(await page.evaluate(() => document.activeElement.textContent), 'Skip to content');
  await page.keyboard.press('Tab');
  assert.equal(await page.evaluate(() => document.activeElement.id), 'key');
  await page.keyboard.type(KEY);
  await page.keyboard.press('Enter');
  await live(page);
  await page.locator('#nodes tbody tr').first().waitFor({ timeout: WAIT });
  await noSeriousViolations(page, 'dashboard (phone)');
  await page.screenshot({ path: path.join(SHOTS, 'admin-phone.png') });
  await page.click('#signout');
  await page.locator('#login').waitFor({ timeout: WAIT });
  assert.equal(await page.evaluate(() => sessionStorage.length), 0);
  await page.context().close();
});

test('the cluster example: both nodes listed', async () => {
  const redisPort = await freePort();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'luahub-admin-redis-'));
  await start('redis-server', ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '',
    '--appendonly', 'no', '--dir', dir], redisPort);
  const redis = `redis://127.0.0.1:${redisPort}`;
  const one = await luahub(CLUSTER_HUB, { api_key: KEY }, { NODE_ID: 'node-1', REDIS_URL: redis });
  await luahub(CLUSTER_HUB, { api_key: KEY }, { NODE_ID: 'node-2', REDIS_URL: redis });
  const page = await newPage(DESKTOP);
  await signIn(page, one);
  await live(page);
  await until('two nodes in the table', async () => (await page.locator('#nodes tbody tr').count()) === 2);
  const rows = await page.locator('#nodes tbody tr td:first-child').allTextContents();
  assert.deepEqual(rows, ['node-1 (this node)', 'node-2']);
  assert.match(await page.textContent('#cluster-state'), /Broker: ok\. 2 live nodes\./);
  await page.context().close();
  execFileSync('rm', ['-rf', dir]);
});
