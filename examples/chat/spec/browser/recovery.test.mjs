// No message lost or doubled across a restart: two chat pages in headless Chromium; one
// sends a message every 250 ms (under the chat's 5 a second) while the server is killed (SIGKILL) and started again;
// the other shows every message the first one shows, exactly once and in order.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assertSameOnceInOrder, numbered, RECONNECT_WAIT, sendSteadily, startServer, stopServer, until, useChatServer, WAIT }
  from './support.mjs';

let browser;
let server;
let port;
useChatServer((b, s, p) => { browser = b; server = s; port = p; }, () => server);

async function openChat(name, errors) {
  const page = await (await browser.newContext()).newPage();
  page.on('pageerror', (err) => errors.push(`${name}: ${err.message}`));
  await page.goto(`http://127.0.0.1:${port}/`);
  await page.locator('#status[data-state="online"]').waitFor({ timeout: WAIT });
  await page.fill('#username', name);
  await page.fill('#room', 'steady');
  await page.click('#join');
  await page.locator('.notice', { hasText: 'You joined #steady' }).waitFor({ timeout: WAIT });
  return page;
}

// The "n<k>" bubbles on a page, in the order shown.
const shown = (page) => numbered(page, '.msg .bubble');

test('a page shows every message sent across a restart exactly once, in order', async () => {
  const errors = [];
  const writer = await openChat('writer', errors);
  const reader = await openChat('reader', errors);
  const sender = sendSteadily(writer, async () => await writer.getAttribute('#status', 'data-state') === 'online');
  await until('some messages before the restart', WAIT, async () => (await shown(reader)).length >= 5);
  await stopServer(server, true);
  server = await startServer(port);
  await writer.locator('#status[data-state="online"]').waitFor({ timeout: RECONNECT_WAIT });
  await reader.locator('#status[data-state="online"]').waitFor({ timeout: RECONNECT_WAIT });
  const before = (await shown(writer)).length;
  await until('messages after the restart', WAIT, async () => (await shown(writer)).length >= before + 10);
  await sender.stop();
  await assertSameOnceInOrder(reader, writer, shown);
  // the restart cost the server its history: the pages say so rather than pretend
  await reader.locator('.notice', { hasText: 'Some messages were missed' }).waitFor({ timeout: WAIT });
  assert.deepEqual(errors, []);
});
