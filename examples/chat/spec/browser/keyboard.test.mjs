// Keyboard and screen reader use in headless Chromium: Tab stays on the surface in
// sight (the login card; the phone drawer, closed and open; Escape closes it), the
// current room is marked as current, and a room's history is not read out at once (only
// new messages go to the live region).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bubble, DESKTOP, openChat, PHONE, useChatServer, WAIT }
  from './support.mjs';

let browser;
let server;
let port;
useChatServer((b, s, p) => { browser = b; server = s; port = p; }, () => server);
const errors = [];

// Presses Tab n times; returns, for each stop, whether the focused element is inside
// selector (the page itself, between the last control and the first, counts as inside).
async function tabStops(page, selector, n = 12) {
  const stops = [];
  for (let i = 0; i < n; i += 1) {
    await page.keyboard.press('Tab');
    stops.push(await page.evaluate((sel) => {
      const el = document.activeElement;
      if (!el || el === document.body) return { inside: true, what: 'body' };
      return { inside: Boolean(el.closest(sel)), what: el.id || el.outerHTML.slice(0, 60) };
    }, selector));
  }
  return stops;
}

function assertInside(stops, where) {
  const outside = stops.filter((s) => !s.inside).map((s) => s.what);
  assert.deepEqual(outside, [], `Tab left ${where}`);
}

test('Tab stays in the login card, desktop and phone', async () => {
  for (const viewport of [DESKTOP, PHONE]) {
    const page = await (await browser.newContext({ viewport, isMobile: viewport === PHONE })).newPage();
    await page.goto(`http://127.0.0.1:${port}/`);
    await page.locator('#status[data-state="online"]').waitFor({ timeout: WAIT });
    const stops = await tabStops(page, '#login-form');
    assertInside(stops, 'the login card');
    assert.ok(stops.some((s) => s.what === 'join'), 'the Join button is reached');
    await page.context().close();
  }
});

test('the phone drawer: never tabbed into while closed, Tab kept inside while open, Escape closes it', async () => {
  const page = await openChat(browser, port, 'thumb', 'drawer', { viewport: PHONE, errors });
  assertInside(await tabStops(page, '#chat, #sidebar-toggle'), 'the chat while the drawer is closed');

  await page.click('#sidebar-toggle');
  assert.equal(await page.getAttribute('#sidebar-toggle', 'aria-expanded'), 'true');
  assert.equal(await page.evaluate(() => document.activeElement.id), 'sidebar-close');
  const stops = await tabStops(page, '#sidebar');
  assertInside(stops, 'the open drawer');
  assert.ok(stops.some((s) => s.what === 'leave-button'), 'the drawer\'s controls are reached');

  await page.keyboard.press('Escape');
  assert.equal(await page.getAttribute('#app', 'data-sidebar'), null);
  assert.equal(await page.evaluate(() => document.activeElement.id), 'sidebar-toggle');
  await page.waitForFunction(() => document.getElementById('sidebar').getBoundingClientRect().right <= 0,
    null, { timeout: WAIT });
  assertInside(await tabStops(page, '#chat, #sidebar-toggle'), 'the chat after Escape');
  await page.context().close();
});

test('the current room is marked aria-current, and only it', async () => {
  const page = await openChat(browser, port, 'marker', 'here', { errors });
  const current = () => page.$$eval('#room-list button[aria-current="true"]', (bs) => bs.map((b) => b.textContent));
  await page.locator('#room-list button[aria-current="true"]', { hasText: 'here' }).waitFor({ timeout: WAIT });
  assert.equal((await current()).length, 1);
  await page.fill('#new-room', 'there');
  await page.press('#new-room', 'Enter');
  await page.locator('#room-list button[aria-current="true"]', { hasText: 'there' }).waitFor({ timeout: WAIT });
  assert.equal((await current()).length, 1);
  await page.context().close();
});

test('history is not read out at once; a new message from someone else is', async () => {
  const talker = await openChat(browser, port, 'talker', 'quiet', { errors });
  for (const text of ['old one', 'old two', 'old three']) {
    await talker.fill('#text', text);
    await talker.press('#text', 'Enter');
    await bubble(talker, text).waitFor({ timeout: WAIT });
  }
  const listener = await openChat(browser, port, 'listener', 'quiet', { errors });
  await bubble(listener, 'old three').waitFor({ timeout: WAIT });
  assert.equal(await listener.getAttribute('#messages', 'aria-live'), null, 'the message list is not live');
  assert.equal(await listener.textContent('#announcer'), '', 'the history is not announced');

  await talker.fill('#text', 'a new one');
  await talker.press('#text', 'Enter');
  await listener.locator('#announcer', { hasText: 'talker: a new one' }).waitFor({ timeout: WAIT });
  assert.equal(await listener.getAttribute('#announcer', 'aria-live'), 'polite');
  assert.equal(await talker.textContent('#announcer'), '', 'one\'s own messages are not read back');
  assert.deepEqual(errors, []);
});
