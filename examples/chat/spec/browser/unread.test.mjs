// Unread counts per room in headless Chromium: a page that viewed a room and went to
// another sees, next to the first, how many messages came there since, named for screen
// readers ("side, 3 unread, 1 member"); opening the room clears it. The counts stay right
// across a lost connection that the page recovers from (messages of the outage counted
// once: in the room list for another room, in the title of a hidden tab for the room it
// shows), and at phone size the drawer's button says that something waits.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bubble, openChat, PHONE, RECONNECT_WAIT, relay, until, useChatServer, WAIT }
  from './support.mjs';

let browser;
let server;
let port;
useChatServer((b, s, p) => { browser = b; server = s; port = p; }, () => server);
const errors = [];

function roomButton(page, room) { return page.locator(`#room-list button[data-room="${room}"]`); }

async function unreadOf(page, room) {
  const badge = roomButton(page, room).locator('.unread');
  return (await badge.count()) ? (await badge.textContent()) : '';
}

async function expectUnread(page, room, count) {
  await until(`${room} to show ${count || 'no'} unread`, WAIT, async () => await unreadOf(page, room) === (count ? String(count) : ''));
  const label = await roomButton(page, room).getAttribute('aria-label');
  if (count) assert.match(label, new RegExp(`^${room}, ${count} unread(, |$)`), 'the name screen readers read');
  else assert.doesNotMatch(label, /unread/);
}

async function open(page, room) {
  await roomButton(page, room).click();
  await page.locator('.notice', { hasText: `You joined #${room}` }).last().waitFor({ timeout: WAIT });
  await page.locator(`#room-list button[data-room="${room}"][aria-current="true"]`).waitFor({ timeout: WAIT });
}

async function say(page, text) {
  await page.fill('#text', text);
  await page.press('#text', 'Enter');
  await bubble(page, text).waitFor({ timeout: WAIT });
}

// The page as a tab out of sight (true) or in sight again, as the browser would tell it.
function setHidden(page, hidden) {
  return page.evaluate((h) => {
    Object.defineProperty(document, 'hidden', { value: h, configurable: true });
    document.dispatchEvent(new Event('visibilitychange'));
  }, hidden);
}

async function expectTitle(page, title) {
  await until(`the title "${title}"`, WAIT, async () => await page.title() === title);
}

function shown(page) {
  return page.$$eval('.msg .bubble', (nodes) => nodes.map((n) => n.textContent));
}

test('a room viewed earlier counts what came since; opening it clears the count; a recovered outage counts once', async () => {
  const cut = await relay(port);
  try {
    const reader = await openChat(browser, cut.port, 'reader', 'side', { errors });
    const writer = await openChat(browser, port, 'writer', 'side', { errors });
    const talker = await openChat(browser, port, 'talker', 'lobby', { errors });
    await open(reader, 'lobby');
    await expectUnread(reader, 'side', 0);
    await expectUnread(reader, 'general', 0);   // never viewed: nothing to count

    for (const text of ['s1', 's2', 's3']) await say(writer, text);
    await expectUnread(reader, 'side', 3);
    assert.equal(await reader.title(), '#lobby · luahub chat', 'the title counts the room shown only');
    await open(reader, 'side');
    await expectUnread(reader, 'side', 0);
    assert.deepEqual(await shown(reader), ['s1', 's2', 's3'], 'the three counted, shown once');

    // back to the lobby, now a tab out of sight; the connection drops; messages come to
    // both rooms meanwhile
    await open(reader, 'lobby');
    await setHidden(reader, true);
    cut.cut();
    await reader.locator('#status[data-state="reconnecting"]').waitFor({ timeout: WAIT });
    for (const text of ['s4', 's5']) await say(writer, text);
    for (const text of ['l1', 'l2']) await say(talker, text);
    cut.restore();
    await reader.locator('#status[data-state="online"]').waitFor({ timeout: RECONNECT_WAIT });
    await bubble(reader, 'l2').waitFor({ timeout: WAIT });
    await expectTitle(reader, '(2) #lobby · luahub chat');   // the recovered two, once
    await say(talker, 'l3');
    await expectTitle(reader, '(3) #lobby · luahub chat');
    await setHidden(reader, false);
    await expectTitle(reader, '#lobby · luahub chat');
    await expectUnread(reader, 'side', 2);
    await say(writer, 's6');
    await expectUnread(reader, 'side', 3);
    const lobby = await shown(reader);
    assert.deepEqual(lobby.filter((t) => /^l\d$/.test(t)), ['l1', 'l2', 'l3'], 'the outage recovered once, in order');
    await expectUnread(reader, 'lobby', 0);

    await open(reader, 'side');
    await expectUnread(reader, 'side', 0);
    assert.deepEqual(await shown(reader), ['s4', 's5', 's6'], 'the three counted, shown once');
    for (const page of [reader, writer, talker]) await page.context().close();
  } finally {
    await cut.close();
  }
  assert.deepEqual(errors, []);
});

test('at phone size the drawer button and the drawer show the count, and opening the room from the drawer clears it', async () => {
  const phone = await openChat(browser, port, 'pocket', 'far', { viewport: PHONE, errors });
  const writer = await openChat(browser, port, 'farwriter', 'far', { errors });
  await phone.click('#sidebar-toggle');
  await phone.locator('#new-room').fill('near');
  await phone.press('#new-room', 'Enter');
  await phone.locator('.notice', { hasText: 'You joined #near' }).waitFor({ timeout: WAIT });
  await say(writer, 'f1');
  await say(writer, 'f2');
  await until('the drawer button to count 2', WAIT, async () => await phone.getAttribute('#sidebar-toggle', 'data-unread') === '2');
  assert.equal(await phone.getAttribute('#sidebar-toggle', 'aria-label'), 'Rooms and members, 2 unread');

  await phone.click('#sidebar-toggle');
  await phone.waitForFunction(() => document.getElementById('sidebar').getBoundingClientRect().left >= 0,
    null, { timeout: WAIT });
  await expectUnread(phone, 'far', 2);
  assert.ok(await roomButton(phone, 'far').locator('.unread').isVisible(), 'the count is in sight in the open drawer');
  await open(phone, 'far');
  await expectUnread(phone, 'far', 0);
  assert.equal(await phone.getAttribute('#sidebar-toggle', 'data-unread'), null);
  assert.equal(await phone.getAttribute('#sidebar-toggle', 'aria-label'), 'Rooms and members');
  for (const page of [phone, writer]) await page.context().close();
  assert.deepEqual(errors, []);
});
