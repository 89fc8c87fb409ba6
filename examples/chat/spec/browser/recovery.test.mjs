// No message lost or doubled across a restart: two chat pages in headless Chromium; one
// sends a message every 250 ms (under the chat's 5 a second) while the server is killed (SIGKILL) and started again;
// the other shows every message the first one shows, exactly once and in order.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RECONNECT_WAIT, startServer, stopServer, until, useChatServer, WAIT }
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
function shown(page) {
  return page.$$eval('.msg .bubble', (nodes) => nodes.map((n) => n.textContent).filter((t) => /^n\d+$/.test(t)));
}

test('a page shows every message sent across a restart exactly once, in order', async () => {
  const errors = [];
  const writer = await openChat('writer', errors);
  const reader = await openChat('reader', errors);
  let k = 0;
  let sending = true;
  // Sends n1, n2, ... while the page is connected; a send while it is not is refused by
  // the page (a toast) and that number is never sent.
  const sender = (async () => {
    while (sending) {
      if (await writer.getAttribute('#status', 'data-state') === 'online') {
        k += 1;
        await writer.fill('#text', `n${k}`);
        await writer.press('#text', 'Enter');
      }
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  })();
  await until('some messages before the restart', WAIT, async () => (await shown(reader)).length >= 5);
  await stopServer(server, true);
  server = await startServer(port);
  await writer.locator('#status[data-state="online"]').waitFor({ timeout: RECONNECT_WAIT });
  await reader.locator('#status[data-state="online"]').waitFor({ timeout: RECONNECT_WAIT });
  const before = (await shown(writer)).length;
  await until('messages after the restart', WAIT, async () => (await shown(writer)).length >= before + 10);
  sending = false;
  await sender;
  const sent = await shown(writer);
  await until('the reader to show what the writer shows', WAIT, async () => (await shown(reader)).length >= sent.length);
  const seen = await shown(reader);
  assert.deepEqual(seen, sent, 'the reader shows the same messages, once each, in the same order');
  const numbers = sent.map((t) => Number(t.slice(1)));
  assert.deepEqual(numbers, [...numbers].sort((a, b) => a - b), 'in the order sent');
  assert.equal(new Set(numbers).size, numbers.length, 'no message twice');
  // the restart cost the server its history: the pages say so rather than pretend
  await reader.locator('.notice', { hasText: 'Some messages were missed' }).waitFor({ timeout: WAIT });
  assert.deepEqual(errors, []);
});
