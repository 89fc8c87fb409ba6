// A first visit in headless Chromium: the empty-room welcome, and own messages decided
// by connection, never by name (a newcomer who takes a former user's name does not see
// that person's messages as "You").
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bubble, openChat, PHONE, useChatServer, WAIT }
  from './support.mjs';

let browser;
let server;
let port;
useChatServer((b, s, p) => { browser = b; server = s; port = p; }, () => server);
const errors = [];

test('an empty room shows its welcome beside the join notice, until the first message', async () => {
  for (const [viewport, room] of [[undefined, 'fresh'], [PHONE, 'fresh-phone']]) {
    const page = await openChat(browser, port, 'first', room, { viewport, errors });
    const welcome = page.locator('#messages .empty');
    await welcome.waitFor({ timeout: WAIT });
    assert.match(await welcome.textContent(), new RegExp(`Welcome to #${room}`));
    assert.equal(await welcome.isVisible(), true);
    await page.fill('#text', 'hello, anyone?');
    await page.press('#text', 'Enter');
    await bubble(page, 'hello, anyone?').waitFor({ timeout: WAIT });
    assert.equal(await welcome.count(), 0, 'the first message replaces the welcome');
    await page.context().close();
  }
});

test("a newcomer who takes a former user's name does not see that user's messages as own", async () => {
  const witness = await openChat(browser, port, 'witness', 'names', { errors });
  const first = await openChat(browser, port, 'ada', 'names', { errors });
  await first.fill('#text', 'said by the first ada');
  await first.press('#text', 'Enter');
  await first.locator('.msg.own .bubble', { hasText: 'said by the first ada' }).waitFor({ timeout: WAIT });
  await first.context().close();
  await witness.locator('.notice', { hasText: 'ada left' }).waitFor({ timeout: WAIT });

  const second = await openChat(browser, port, 'ada', 'names', { errors });
  const old = second.locator('.msg', { has: second.locator('.bubble', { hasText: 'said by the first ada' }) });
  await old.waitFor({ timeout: WAIT });
  assert.equal(await old.evaluate((n) => n.classList.contains('own')), false);
  assert.equal(await old.locator('.author').textContent(), 'ada');

  await second.fill('#text', 'said by the second ada');
  await second.press('#text', 'Enter');
  await second.locator('.msg.own .bubble', { hasText: 'said by the second ada' }).waitFor({ timeout: WAIT });
  await bubble(witness, 'said by the second ada').waitFor({ timeout: WAIT });
  assert.equal(await witness.locator('.msg.own').count(), 0, 'the witness owns none of them');
  await second.context().close();
  await witness.context().close();
  assert.deepEqual(errors, []);
});
