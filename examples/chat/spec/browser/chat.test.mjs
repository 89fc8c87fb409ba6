// The chat web client in headless Chromium (Debian's /usr/bin/chromium driven by npm
// playwright-core) against a real luahub server running examples/chat/hub.lua.
// Run by scripts/browser-test.sh; every wait has a deadline, nothing sleeps a fixed time.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { ARTIFACTS, RECONNECT_WAIT, startServer, stopServer, useChatServer, WAIT, bubble, openChat as openSharedChat }
  from './support.mjs';

// ------------------------------------------------------------------ browser helpers
let browser;
let server;
let port;
useChatServer((b, s, p) => { browser = b; server = s; port = p; }, () => server);
const pages = {};
const pageErrors = [];

// the shared openChat, with this file's browser, port and error list
const openChat = (name, room) => openSharedChat(browser, port, name, room, { errors: pageErrors });

async function say(page, text) {
  await page.fill('#text', text);
  await page.press('#text', 'Enter');
}

// ------------------------------------------------------------------ the story
test('the page loads without errors and shows the login form', async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(`http://127.0.0.1:${port}/`);
  await page.locator('#login-form').waitFor({ state: 'visible', timeout: WAIT });
  await page.locator('#status[data-state="online"]').waitFor({ timeout: WAIT });
  assert.equal(await page.title(), 'luahub chat');
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: path.join(ARTIFACTS, 'chat-login.png') });
  await context.close();
});

test('two users in one room see each other join and talk', async () => {
  pages.alice = await openChat('alice', 'lobby');
  pages.bob = await openChat('bob', 'lobby');
  const { alice, bob } = pages;

  await alice.locator('.notice', { hasText: 'bob joined' }).waitFor({ timeout: WAIT });
  await alice.locator('#member-list', { hasText: 'bob' }).waitFor({ timeout: WAIT });
  await bob.locator('#member-list', { hasText: 'alice' }).waitFor({ timeout: WAIT });
  await alice.locator('#member-count', { hasText: '2' }).waitFor({ timeout: WAIT });
  assert.equal(await alice.textContent('#room-title'), 'lobby');

  await say(alice, 'Hi Bob! Welcome to the lobby — café ☕ ok?');
  await bubble(bob, 'Hi Bob! Welcome to the lobby').waitFor({ timeout: WAIT });
  await bubble(alice, 'Hi Bob! Welcome').waitFor({ timeout: WAIT });
  // own messages are marked as such on the sender's page only
  assert.equal(await alice.locator('.msg.own .bubble', { hasText: 'Hi Bob!' }).count(), 1);
  assert.equal(await bob.locator('.msg.own .bubble', { hasText: 'Hi Bob!' }).count(), 0);

  await say(bob, 'Thanks Alice, glad to be here.');
  await bubble(alice, 'glad to be here').waitFor({ timeout: WAIT });
  // the sender's own copy may render a moment after the other page's
  await bob.locator('.msg.own .bubble', { hasText: 'glad to be here' }).waitFor({ timeout: WAIT });
  assert.equal(await bob.locator('.msg.own .bubble', { hasText: 'glad to be here' }).count(), 1);
});

test('typing shows an indicator on the other page, and sending clears it', async () => {
  const { alice, bob } = pages;
  await bob.locator('#text').pressSequentially('I am writing something lon');
  await alice.locator('#typing', { hasText: 'bob is typing' }).waitFor({ timeout: WAIT });
  assert.equal(await bob.textContent('#typing'), '', 'the typist sees no indicator for itself');
  await bob.locator('#text').pressSequentially('g');
  await bob.press('#text', 'Enter');
  await bubble(alice, 'I am writing something long').waitFor({ timeout: WAIT });
  await alice.waitForFunction(() => document.getElementById('typing').textContent === '', null,
    { timeout: WAIT });
});

test('an HTML payload is shown as literal text, never run', async () => {
  const { alice, bob } = pages;
  const payload = '<img src=x onerror="window.__pwned=1"><b>not bold</b>';
  await say(alice, payload);
  const seen = bubble(bob, '<img src=x onerror=');
  await seen.waitFor({ timeout: WAIT });
  assert.equal(await seen.textContent(), payload);
  for (const page of [alice, bob]) {
    assert.equal(await page.locator('.messages img, .messages b').count(), 0);
    assert.equal(await page.evaluate(() => window.__pwned), undefined);
  }
});

test('after a server restart the pages reconnect on their own and can send again', async () => {
  const { alice, bob } = pages;
  await stopServer(server, true);
  for (const page of [alice, bob]) {
    await page.locator('#status:not([data-state="online"])').waitFor({ timeout: WAIT });
  }
  assert.match(await alice.getAttribute('#status', 'data-state'), /^(reconnecting|connecting|offline)$/);
  server = await startServer(port);
  for (const page of [alice, bob]) {
    await page.locator('#status[data-state="online"]').waitFor({ timeout: RECONNECT_WAIT });
    await page.locator('.notice.divider', { hasText: 'Reconnected' }).waitFor({ timeout: WAIT });
  }
  // both rejoined the room: the member list is whole again and messages flow
  await alice.locator('#member-count', { hasText: '2' }).waitFor({ timeout: WAIT });
  await say(bob, 'Still here after the restart?');
  await bubble(alice, 'Still here after the restart?').waitFor({ timeout: WAIT });
  await say(alice, 'Yes, reconnected by itself.');
  await bubble(bob, 'reconnected by itself').waitFor({ timeout: WAIT });
  // the messages from before the restart are still on screen
  assert.equal(await bubble(alice, 'Hi Bob!').count(), 1);

  await bob.locator('#text').pressSequentially('typing');
  await alice.locator('#typing', { hasText: 'bob is typing' }).waitFor({ timeout: WAIT });
  await alice.screenshot({ path: path.join(ARTIFACTS, 'chat.png') });
});

test('the layout holds on a phone-sized screen', async () => {
  const context = await browser.newContext({ viewport: { width: 390, height: 760 }, isMobile: true });
  const page = await context.newPage();
  page.on('pageerror', (err) => pageErrors.push(`carol: ${err.message}`));
  await page.goto(`http://127.0.0.1:${port}/`);
  await page.locator('#status[data-state="online"]').waitFor({ timeout: WAIT });
  await page.fill('#username', 'carol');
  await page.fill('#room', 'lobby');
  await page.click('#join');
  await bubble(page, 'reconnected by itself').waitFor({ timeout: WAIT });
  assert.equal(await page.isVisible('#sidebar-toggle'), true);
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth > window.innerWidth);
  assert.equal(overflow, false, 'no horizontal scrolling');
  await page.screenshot({ path: path.join(ARTIFACTS, 'chat-mobile.png') });
  await page.click('#sidebar-toggle');
  await page.locator('#member-list', { hasText: 'alice' }).waitFor({ state: 'visible', timeout: WAIT });
  await page.waitForFunction(() => document.getElementById('sidebar').getBoundingClientRect().left >= 0,
    null, { timeout: WAIT });
  await page.screenshot({ path: path.join(ARTIFACTS, 'chat-mobile-sidebar.png') });
  await context.close();
  await pages.alice.locator('.notice', { hasText: 'carol left' }).waitFor({ timeout: WAIT });
});

test('switching rooms leaves the old one with a notice', async () => {
  const { alice, bob } = pages;
  await bob.fill('#new-room', 'random');
  await bob.press('#new-room', 'Enter');
  await bob.locator('.notice', { hasText: 'You joined #random' }).waitFor({ timeout: WAIT });
  assert.equal(await bob.textContent('#room-title'), 'random');
  assert.equal(await bubble(bob, 'Hi Bob!').count(), 0, 'the old room\'s messages are gone');
  await alice.locator('.notice', { hasText: 'bob left' }).waitFor({ timeout: WAIT });
  await alice.locator('#member-count', { hasText: '1' }).waitFor({ timeout: WAIT });
  await alice.locator('#room-list button', { hasText: 'random' }).waitFor({ timeout: WAIT });
  await say(bob, 'alone in random');
  await bubble(bob, 'alone in random').waitFor({ timeout: WAIT });
  assert.equal(await bubble(alice, 'alone in random').count(), 0);
});

test('closing a page tells the room', async () => {
  const { alice, bob } = pages;
  await alice.click('#room-list button:has-text("random")');
  await alice.locator('.notice', { hasText: 'You joined #random' }).waitFor({ timeout: WAIT });
  await bubble(alice, 'alone in random').waitFor({ timeout: WAIT });
  await bob.context().close();
  await alice.locator('.notice', { hasText: 'bob left' }).waitFor({ timeout: WAIT });
  await alice.locator('#member-count', { hasText: '1' }).waitFor({ timeout: WAIT });
  assert.deepEqual(pageErrors, []);
});
