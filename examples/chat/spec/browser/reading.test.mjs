// Reading aids in headless Chromium: http(s) addresses in a message are links
// (noopener noreferrer, a new tab), anything else stays text and no text is ever read as
// HTML; a message that arrives while the reader has scrolled up offers a jump to it
// instead of moving the page; messages sit under a divider of their day.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bubble, openChat, PHONE, useChatServer, WAIT }
  from './support.mjs';

let browser;
let server;
let port;
useChatServer((b, s, p) => { browser = b; server = s; port = p; }, () => server);
const errors = [];

test('http(s) addresses become safe links; the rest stays literal text', async () => {
  const writer = await openChat(browser, port, 'writer', 'links', { errors });
  const reader = await openChat(browser, port, 'reader', 'links', { errors });
  const text = 'see https://example.com/path?q=1. or (https://example.org/wiki/Lua_(language)) '
    + 'but not javascript:alert(1) nor ftp://example.net/f nor <a href="https://evil.example">x</a>';
  await writer.fill('#text', text);
  await writer.press('#text', 'Enter');
  for (const page of [reader, writer]) {
    const shown = bubble(page, 'see https://example.com');
    await shown.waitFor({ timeout: WAIT });
    assert.equal(await shown.textContent(), text, 'the text is shown as it was written');
    const links = await shown.locator('a').evaluateAll((as) => as.map((a) => ({
      href: a.getAttribute('href'), text: a.textContent, rel: a.rel, target: a.target,
    })));
    assert.deepEqual(links.map((l) => l.href),
      ['https://example.com/path?q=1', 'https://example.org/wiki/Lua_(language)', 'https://evil.example/']);
    assert.deepEqual(links.map((l) => l.text),
      ['https://example.com/path?q=1', 'https://example.org/wiki/Lua_(language)', 'https://evil.example']);
    for (const l of links) {
      assert.equal(l.rel, 'noopener noreferrer');
      assert.equal(l.target, '_blank');
    }
    assert.equal(await page.locator('.messages a[href^="javascript"], .messages a[href^="ftp"]').count(), 0);
  }
  await writer.context().close();
  await reader.context().close();
});

test('a message below the fold shows a "new messages" jump, which scrolls to it', async () => {
  const writer = await openChat(browser, port, 'poster', 'jump', { errors });
  const reader = await openChat(browser, port, 'scroller', 'jump', { viewport: PHONE, errors });
  await writer.fill('#text', Array.from({ length: 40 }, (_, i) => `line ${i + 1}`).join('\n'));
  await writer.press('#text', 'Enter');
  await bubble(reader, 'line 40').waitFor({ timeout: WAIT });
  assert.equal(await reader.isVisible('#jump'), false, 'no jump while reading at the end');

  await reader.evaluate(() => { document.getElementById('messages').scrollTop = 0; });
  await writer.fill('#text', 'fresh news');
  await writer.press('#text', 'Enter');
  await reader.locator('#jump').waitFor({ state: 'visible', timeout: WAIT });
  assert.equal(await reader.evaluate(() => document.getElementById('messages').scrollTop), 0,
    'the page did not move under the reader');
  await reader.click('#jump');
  await bubble(reader, 'fresh news').waitFor({ timeout: WAIT });
  const inView = await bubble(reader, 'fresh news').evaluate((node) => {
    const list = document.getElementById('messages').getBoundingClientRect();
    const box = node.getBoundingClientRect();
    return box.top >= list.top && box.bottom <= list.bottom;
  });
  assert.equal(inView, true, 'the new message is in sight');
  await reader.waitForFunction(() => {
    const list = document.getElementById('messages');
    return list.scrollHeight - list.scrollTop - list.clientHeight < 80;
  }, null, { timeout: WAIT });
  assert.equal(await reader.isVisible('#jump'), false);
  assert.deepEqual(errors, []);
});

test('messages are under a divider of their day: "Today", "Yesterday" for a reader a day later', async () => {
  const writer = await openChat(browser, port, 'diarist', 'days', { errors });
  for (const text of ['first of the day', 'second of the day']) {
    await writer.fill('#text', text);
    await writer.press('#text', 'Enter');
    await bubble(writer, text).waitFor({ timeout: WAIT });
  }
  const days = (page) => page.$$eval('#messages .notice.day', (ns) => ns.map((n) => n.textContent));
  assert.deepEqual(await days(writer), ['Today'], 'one divider for the day, before its first message');

  // a reader whose clock says tomorrow sees the same history as yesterday's
  const context = await browser.newContext();
  const later = await context.newPage();
  await later.clock.setFixedTime(Date.now() + 24 * 3600 * 1000);
  await later.goto(`http://127.0.0.1:${port}/`);
  await later.locator('#status[data-state="online"]').waitFor({ timeout: WAIT });
  await later.fill('#username', 'reader-tomorrow');
  await later.fill('#room', 'days');
  await later.click('#join');
  await bubble(later, 'second of the day').waitFor({ timeout: WAIT });
  assert.deepEqual(await days(later), ['Yesterday']);
  const order = await later.$$eval('#messages > li', (ns) => ns.map((n) => n.textContent));
  assert.ok(order.indexOf('Yesterday') < order.findIndex((t) => t.includes('first of the day')));
  await context.close();
  await writer.context().close();
  assert.deepEqual(errors, []);
});
