// Links and the "new messages" jump in headless Chromium: http(s) addresses in a message
// are links (noopener noreferrer, a new tab), anything else stays text and no text is
// ever read as HTML; a message that arrives while the reader has scrolled up offers a
// jump to it instead of moving the page.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { chromium } from 'playwright-core';
import { BIN, CHROMIUM, CHROMIUM_ARGS, PHONE, WAIT, bubble, freePort, openChat, startServer, stopServer }
  from './support.mjs';

let browser;
let server;
let port;
const errors = [];

before(async () => {
  assert.ok(fs.existsSync(BIN), `luahub binary not found at ${BIN} (run make)`);
  port = await freePort();
  server = await startServer(port);
  browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
});

after(async () => {
  if (browser) await browser.close();
  await stopServer(server);
});

process.on('exit', () => {
  if (server && !server.exited) server.proc.kill('SIGKILL');
});

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
