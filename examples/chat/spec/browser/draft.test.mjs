// Nothing typed is lost to the rate limit, in headless Chromium: a message the server
// refuses stays in the box and the sender is told; the others do not keep seeing
// "typing" for a message that never came.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bubble, openChat, useChatServer, WAIT }
  from './support.mjs';

let browser;
let server;
let port;
useChatServer((b, s, p) => { browser = b; server = s; port = p; }, () => server);
const errors = [];

test('a rate-limited message stays in the box, the sender is told, and "typing" ends', async () => {
  const reader = await openChat(browser, port, 'reader', 'burst', { errors });
  const writer = await openChat(browser, port, 'writer', 'burst', { errors });
  // Sends as fast as the page lets it (one message at a time: the box is read-only while
  // one is on its way) until the server refuses one: the burst is 10 frames.
  let refused = null;
  for (let i = 1; i <= 40 && !refused; i += 1) {
    await writer.fill('#text', `burst ${i}`);
    await writer.press('#text', 'Enter');
    await writer.waitForFunction(() => document.getElementById('composer').getAttribute('aria-busy') !== 'true',
      null, { timeout: WAIT });
    if (await writer.inputValue('#text') === `burst ${i}`) refused = `burst ${i}`;
  }
  assert.ok(refused, 'the rate limit refused a message');
  await writer.locator('#toast', { hasText: 'Slow down' }).waitFor({ timeout: WAIT });
  assert.match(await writer.textContent('#toast'), /still in the box/);
  // "typing" ends well before it would expire on its own (7 s)
  await reader.waitForFunction(() => document.getElementById('typing').textContent === '', null,
    { timeout: 3000 });
  assert.equal(await bubble(reader, refused).count(), 0);

  // sent again once the limit allows: it arrives once, and the box is empty
  await writer.waitForTimeout(1000);
  await writer.press('#text', 'Enter');
  await bubble(reader, refused).waitFor({ timeout: WAIT });
  await writer.waitForFunction(() => document.getElementById('text').value === '', null, { timeout: WAIT });
  assert.equal(await bubble(reader, refused).count(), 1);
  assert.deepEqual(errors, []);
});
