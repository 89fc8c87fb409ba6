// What the chat's browser specs share: the luahub process (start on a port, stop by its
// PID), a TCP relay the spec can break, a wait with a deadline, and the steady writer and
// the comparison of the recovery specs; the cluster example's spec uses them too. Not a
// spec itself (browser-test.sh runs *.test.mjs).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import { after, before } from 'node:test';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CHROMIUM, CHROMIUM_ARGS, freePort, listening } from '../../../../spec/browser/browser.mjs';

export { CHROMIUM, CHROMIUM_ARGS, freePort };
import { chromium } from 'playwright-core';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../..');
export const BIN = process.env.LUAHUB_BIN || path.join(ROOT, 'build/luahub');
export const SCRIPT = path.join(ROOT, 'examples/chat/hub.lua');
export const ARTIFACTS = path.join(ROOT, 'spec/artifacts');
export const WAIT = 10000;            // ms for any one expected event
export const RECONNECT_WAIT = 30000;  // ms for a page to notice a restart and come back

// ------------------------------------------------------------------ server process
export async function until(what, deadlineMs, predicate) {
  const deadline = Date.now() + deadlineMs;
  for (;;) {
    if (await predicate()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${deadlineMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

// Starts build/luahub on port with script (the chat's by default) and env added to this
// process's; resolves once it accepts connections.
export async function startServer(port, { script = SCRIPT, env = {} } = {}) {
  const proc = spawn(BIN, ['--listen', `127.0.0.1:${port}`, '--config', '{"drain_timeout":0}', script],
    { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  const server = { proc, port, log: '', exited: false };
  proc.stdout.on('data', (chunk) => { server.log += chunk; });
  proc.stderr.on('data', (chunk) => { server.log += chunk; });
  proc.once('exit', () => { server.exited = true; });
  await until(`luahub to listen on ${port}`, WAIT, async () => {
    if (server.exited) throw new Error(`luahub exited during startup:\n${server.log}`);
    return listening(port);
  });
  return server;
}

// Stops the server by its PID: SIGTERM, then SIGKILL when it has not exited in time
// (or right away with hard = true, as a crash would).
export async function stopServer(server, hard = false) {
  if (!server || server.exited) return;
  server.proc.kill(hard ? 'SIGKILL' : 'SIGTERM');
  try {
    await until('luahub to exit', 5000, () => server.exited);
  } catch {
    server.proc.kill('SIGKILL');
    await until('luahub to exit after SIGKILL', 5000, () => server.exited);
  }
}

// A TCP relay on a free loopback port to the server on target, which the spec can break
// as a network would: hold() refuses new connections (those open go on), cut() also ends
// the open ones, restore() lets connections through again.
export async function relay(target) {
  const sockets = new Set();
  let refusing = false;
  const proxy = net.createServer((client) => {
    if (refusing) { client.destroy(); return; }
    const upstream = net.connect(target, '127.0.0.1');
    for (const [a, b] of [[client, upstream], [upstream, client]]) {
      sockets.add(a);
      a.pipe(b);
      a.on('error', () => b.destroy());
      a.on('close', () => { sockets.delete(a); b.destroy(); });
    }
  });
  const port = await freePort();
  await new Promise((resolve) => proxy.listen(port, '127.0.0.1', resolve));
  return {
    port,
    hold() { refusing = true; },
    cut() {
      refusing = true;
      for (const s of sockets) s.destroy();
    },
    restore() { refusing = false; },
    close() {
      for (const s of sockets) s.destroy();
      return new Promise((resolve) => proxy.close(resolve));
    },
  };
}

// ------------------------------------------------------------------ steady messages
// The texts "n1", "n2", ... of the elements selector finds on the page, in its order
// (each example marks a message's text its own way).
export function numbered(page, selector) {
  return page.$$eval(selector, (nodes) => nodes.map((n) => n.textContent).filter((t) => /^n\d+$/.test(t)));
}

// Types n1, n2, ... into the page's #text and sends it every 250 ms (under the examples'
// 5 a second) while connected() holds. A send the page refuses or loses (not connected, a
// dying server) is never sent again: that number may be missing on every page, never on
// one. stop() ends it and resolves with how many were sent.
export function sendSteadily(page, connected) {
  let k = 0;
  let sending = true;
  const loop = (async () => {
    while (sending) {
      if (await connected()) {
        k += 1;
        await page.fill('#text', `n${k}`);
        await page.press('#text', 'Enter');
      }
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  })();
  return {
    async stop() {
      sending = false;
      await loop;
      return k;
    },
  };
}

// Once the reader shows as many as the writer: the same messages, each once, in the
// order sent. Returns their numbers.
export async function assertSameOnceInOrder(reader, writer, shown) {
  const sent = await shown(writer);
  await until('the reader to show what the writer shows', WAIT, async () => (await shown(reader)).length >= sent.length);
  assert.deepEqual(await shown(reader), sent, 'the reader shows the same messages, once each, in the same order');
  const numbers = sent.map((t) => Number(t.slice(1)));
  assert.deepEqual(numbers, [...numbers].sort((a, b) => a - b), 'in the order sent');
  assert.equal(new Set(numbers).size, numbers.length, 'no message twice');
  return numbers;
}

// ------------------------------------------------------------------ pages
export const DESKTOP = { width: 1280, height: 800 };
export const PHONE = { width: 390, height: 760 };

// A chat page of its own browser context, logged in as name in room, once its own join
// notice shows. Page errors are pushed to errors.
export async function openChat(browser, port, name, room, { viewport = DESKTOP, errors = [] } = {}) {
  const context = await browser.newContext({ viewport, isMobile: viewport === PHONE });
  const page = await context.newPage();
  page.on('pageerror', (err) => errors.push(`${name}: ${err.message}`));
  await page.goto(`http://127.0.0.1:${port}/`);
  await page.locator('#status[data-state="online"]').waitFor({ timeout: WAIT });
  await page.fill('#username', name);
  await page.fill('#room', room);
  await page.click('#join');
  await page.locator('.notice', { hasText: `You joined #${room}` }).waitFor({ timeout: WAIT });
  return page;
}

export function bubble(page, text) {
  return page.locator('.msg .bubble').filter({ hasText: text });
}

// The server and the browser of a spec file: started before its tests, stopped after them,
// and the server killed if the process exits first. started(browser, server, port) hands
// them to the file; current() returns its server then (a spec may restart it).
export function useChatServer(started, current) {
  let browser;
  before(async () => {
    assert.ok(fs.existsSync(BIN), `luahub binary not found at ${BIN} (run make)`);
    const port = await freePort();
    const server = await startServer(port);
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
    started(browser, server, port);
  });
  after(async () => {
    if (browser) await browser.close();
    await stopServer(current());
  });
  process.on('exit', () => {
    const server = current();
    if (server && !server.exited) server.proc.kill('SIGKILL');
  });
}
