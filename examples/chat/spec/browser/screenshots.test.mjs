// The chat's pictures in docs/: docs/img/chat-desktop.png and chat-phone.png, taken here
// from a real conversation so they show the page as it is (referenced from
// examples/chat/README.md).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { bubble, openChat, PHONE, ROOT, useChatServer, WAIT }
  from './support.mjs';

const SHOTS = path.join(ROOT, 'docs/img');

let browser;
let server;
let port;
useChatServer((b, s, p) => { browser = b; server = s; port = p; }, () => server);
const errors = [];

async function say(page, text) {
  await page.fill('#text', text);
  await page.press('#text', 'Enter');
  await bubble(page, text).waitFor({ timeout: WAIT });
}

test('screenshots of a conversation, desktop and phone', async () => {
  // ada looked into #design before: what came there since shows as its unread count
  const ada = await openChat(browser, port, 'ada', 'design', { errors });
  await ada.click('#room-list button[data-room="general"]');
  await ada.locator('.notice', { hasText: 'You joined #general' }).waitFor({ timeout: WAIT });
  const ken = await openChat(browser, port, 'ken', 'design', { errors });
  await say(ken, 'Mockups for the settings page are in the drive.');
  await say(ken, 'Feedback welcome before Friday.');
  await ada.locator('#room-list button[data-room="design"] .unread', { hasText: '2' }).waitFor({ timeout: WAIT });
  const grace = await openChat(browser, port, 'grace', 'general', { errors });
  const linus = await openChat(browser, port, 'linus', 'general', { errors });
  await say(ada, 'Morning! The new build is up, release notes at https://example.com/notes');
  await say(grace, 'Nice. Does the reconnect fix cover the phone case too?');
  await say(ada, 'It does: the page keeps your draft and retries on its own.');
  await say(linus, 'Tried it on the train, the banner came and went by itself.');
  await say(grace, 'Great, shipping it.');
  await linus.locator('#text').pressSequentially('One more');
  await ada.locator('#typing', { hasText: 'linus is typing' }).waitFor({ timeout: WAIT });

  fs.mkdirSync(SHOTS, { recursive: true });
  await ada.screenshot({ path: path.join(SHOTS, 'chat-desktop.png') });
  const phone = await openChat(browser, port, 'margaret', 'design', { viewport: PHONE, errors });
  await phone.click('#sidebar-toggle');
  // by key, not by tap: a tap leaves the message under it in its hover state
  await phone.press('#room-list button[data-room="general"]', 'Enter');
  await bubble(phone, 'Great, shipping it.').waitFor({ timeout: WAIT });
  await say(ken, 'Also: the icons are final.');
  await phone.locator('#sidebar-toggle[data-unread="1"]').waitFor({ timeout: WAIT });
  await say(phone, 'Reading along from my phone.');
  await phone.screenshot({ path: path.join(SHOTS, 'chat-phone.png') });
  for (const name of ['chat-desktop.png', 'chat-phone.png']) {
    assert.ok(fs.statSync(path.join(SHOTS, name)).size > 10000, `${name} was written`);
  }
  assert.deepEqual(errors, []);
});
