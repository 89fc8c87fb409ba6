// An outage in headless Chromium, desktop and phone: a banner in the chat itself with a
// button that retries at once, the member list no longer shown as present, a message
// typed meanwhile kept in the box; once the server is back the banner and the "not
// connected" toast are gone and the kept message goes out.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bubble, openChat, PHONE, RECONNECT_WAIT, startServer, stopServer, until, useChatServer, WAIT }
  from './support.mjs';

let browser;
let server;
let port;
useChatServer((b, s, p) => { browser = b; server = s; port = p; }, () => server);
const errors = [];

// The colour of the presence dot on the first member's avatar.
function presenceDot(page) {
  return page.$eval('#member-list .avatar', (n) => getComputedStyle(n, '::after').backgroundColor);
}

test('an outage shows a banner with retry, keeps what is typed, and clears on reconnect', async () => {
  const desk = await openChat(browser, port, 'desk', 'outage', { errors });
  const phone = await openChat(browser, port, 'phone', 'outage', { viewport: PHONE, errors });
  await desk.locator('#member-count', { hasText: '2' }).waitFor({ timeout: WAIT });
  const present = await presenceDot(desk);
  assert.equal(await desk.isVisible('#outage'), false);

  await stopServer(server, true);
  for (const page of [desk, phone]) {
    const banner = page.locator('#outage');
    await banner.waitFor({ state: 'visible', timeout: WAIT });
    assert.match(await banner.textContent(), /Connection lost/);
    const box = await banner.boundingBox();
    const viewport = page.viewportSize();
    assert.ok(box.y >= 0 && box.y + box.height <= viewport.height && box.x + box.width <= viewport.width,
      'the banner is on screen');
    await page.locator('#retry').waitFor({ state: 'visible', timeout: WAIT });
  }
  assert.notEqual(await presenceDot(desk), present, 'the member list is not shown as present');

  await phone.fill('#text', 'typed during the outage');
  await phone.press('#text', 'Enter');
  await phone.locator('#toast', { hasText: 'Not connected' }).waitFor({ timeout: WAIT });
  assert.equal(await phone.inputValue('#text'), 'typed during the outage');

  // Once the phone's next try is 4 s or more away, the server comes back and Retry
  // reconnects well before that try; the desk page comes back on its own.
  await phone.locator('#outage-text', { hasText: /Trying again in ([4-9]|\d\d)s/ })
    .waitFor({ timeout: RECONNECT_WAIT });
  server = await startServer(port);
  await phone.click('#retry');
  await phone.locator('#status[data-state="online"]').waitFor({ timeout: 2500 });
  await desk.locator('#status[data-state="online"]').waitFor({ timeout: RECONNECT_WAIT });
  assert.equal(await phone.isVisible('#outage'), false, 'the banner is gone');
  assert.equal(await phone.isVisible('#toast'), false, 'the "not connected" toast is gone');
  assert.equal(await desk.isVisible('#outage'), false);
  await desk.locator('#member-count', { hasText: '2' }).waitFor({ timeout: WAIT });
  assert.equal(await presenceDot(desk), present);

  await phone.locator('.notice.divider', { hasText: 'Reconnected' }).waitFor({ timeout: WAIT });
  await phone.press('#text', 'Enter');
  await bubble(desk, 'typed during the outage').waitFor({ timeout: WAIT });
  // the box empties on the server's reply, which may come after the desk has the message
  await until('the phone\'s box to empty once the message was taken', WAIT, async () => await phone.inputValue('#text') === '');
  assert.deepEqual(errors, []);
});
