// axe-core on the chat in headless Chromium: no serious or critical violation (WCAG 2.1
// A and AA, contrast and names among them) in the light and dark themes, desktop and
// phone, on the login card, a conversation (own and others' messages, notices, typing),
// links, unread counts, the phone drawer, the outage banner, a toast, the "new messages" jump and every
// state of the status pill; and white text measured on the avatars of all 360 hues and
// on the own bubbles, and the unread counts' text on their pills (axe cannot measure a
// gradient, skips the avatars' aria-hidden initials and leaves a one-digit count
// "too short" to judge).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { bubble, DESKTOP, openChat, PHONE, useChatServer, WAIT }
  from './support.mjs';

const AXE = createRequire(import.meta.url).resolve('axe-core/axe.min.js');

let browser;
let server;
let port;
useChatServer((b, s, p) => { browser = b; server = s; port = p; }, () => server);
const errors = [];

async function seriousViolations(page) {
  if (!await page.evaluate(() => Boolean(window.axe))) await page.addScriptTag({ path: AXE });
  const result = await page.evaluate(() => window.axe.run(document, {
    runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'] },
  }));
  return result.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.id}: ${v.nodes.map((n) => `${n.target.join(' ')} ${n.any.map((c) => c.message).join(' ')}`).join('; ')}`);
}

// The lowest contrast of white text on the avatars of all 360 hues and on both ends of
// the own bubbles' gradient, and of an unread count on its pill, as the page paints them
// (through a canvas, so any CSS colour syntax is measured as sRGB).
function textContrasts(page) {
  return page.evaluate(() => {
    const ctx = Object.assign(document.createElement('canvas'), { width: 1, height: 1 }).getContext('2d');
    const channel = (v) => { const c = v / 255; return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4; };
    const luminance = (css) => {
      ctx.clearRect(0, 0, 1, 1);
      ctx.fillStyle = '#010203';
      ctx.fillStyle = css;
      if (ctx.fillStyle === '#010203') throw new Error(`the canvas does not take the colour ${css}`);
      ctx.fillRect(0, 0, 1, 1);
      const [r, g, b] = ctx.getImageData(0, 0, 1, 1).data;
      return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b);
    };
    const ratio = (one, two) => {
      const [light, dark] = [luminance(one), luminance(two)].sort((a, b) => b - a);
      return (light + 0.05) / (dark + 0.05);
    };
    const against = (css) => ratio('#ffffff', css);
    const probe = document.createElement('span');
    probe.className = 'avatar';
    document.body.append(probe);
    let avatars = Infinity;
    for (let hue = 0; hue < 360; hue += 1) {
      probe.style.setProperty('--hue', hue);
      avatars = Math.min(avatars, against(getComputedStyle(probe).backgroundColor));
    }
    probe.remove();
    const root = getComputedStyle(document.documentElement);
    const bubble = Math.min(against(root.getPropertyValue('--accent')), against(root.getPropertyValue('--accent-2')));
    const count = getComputedStyle(document.querySelector('#room-list .unread'));
    return { avatars, bubble, unread: ratio(count.color, count.backgroundColor) };
  });
}

async function join(page, name, room) {
  await page.goto(`http://127.0.0.1:${port}/`);
  await page.locator('#status[data-state="online"]').waitFor({ timeout: WAIT });
  const found = await seriousViolations(page);
  await page.fill('#username', name);
  await page.fill('#room', room);
  await page.click('#join');
  await page.locator('.notice', { hasText: `You joined #${room}` }).waitFor({ timeout: WAIT });
  return found;
}

// From the room the page is in to room, through the room list (in the drawer on a phone).
async function switchTo(page, room, phone) {
  if (phone) await page.click('#sidebar-toggle');
  await page.click(`#room-list button[data-room="${room}"]`);
  await page.locator('.notice', { hasText: `You joined #${room}` }).waitFor({ timeout: WAIT });
}

test('the chat has no serious accessibility violation, light and dark, desktop and phone', async () => {
  const room = 'contrast';
  const ana = await openChat(browser, port, 'ana', room, { errors });
  const bo = await openChat(browser, port, 'bo', room, { errors });
  const cy = await openChat(browser, port, 'cy', 'aside', { errors });   // gives each page an unread count
  for (const [page, text] of [[ana, 'hello from ana'], [bo, 'and from bo, see https://example.com']]) {
    await page.fill('#text', text);
    await page.press('#text', 'Enter');
    await bubble(page, text).waitFor({ timeout: WAIT });
  }
  await ana.context().close();   // a "left" notice

  const found = [];
  for (const colorScheme of ['light', 'dark']) {
    for (const viewport of [DESKTOP, PHONE]) {
      const where = `${colorScheme} ${viewport.width}px`;
      const context = await browser.newContext({ viewport, isMobile: viewport === PHONE, colorScheme,
        reducedMotion: 'reduce' });
      const page = await context.newPage();
      page.on('pageerror', (err) => errors.push(`${where}: ${err.message}`));
      found.push(...(await join(page, `me-${colorScheme}-${viewport.width}`, 'aside')).map((v) => `${where} login: ${v}`));
      await switchTo(page, room, viewport === PHONE);
      await cy.fill('#text', `psst ${where}`);
      await cy.press('#text', 'Enter');
      await page.locator('#room-list button[data-room="aside"] .unread', { hasText: '1' }).waitFor({ state: 'attached', timeout: WAIT });
      await page.fill('#text', 'my own words');
      await page.press('#text', 'Enter');
      await page.locator('.msg.own .bubble', { hasText: 'my own words' }).waitFor({ timeout: WAIT });
      await bo.locator('#text').pressSequentially('ty');
      await page.locator('#typing', { hasText: 'bo is typing' }).waitFor({ timeout: WAIT });
      found.push(...(await seriousViolations(page)).map((v) => `${where} chat: ${v}`));

      if (viewport === PHONE) {
        await page.click('#sidebar-toggle');
        await page.waitForFunction(() => document.getElementById('sidebar').getBoundingClientRect().left >= 0,
          null, { timeout: WAIT });
        found.push(...(await seriousViolations(page)).map((v) => `${where} drawer: ${v}`));
        await page.keyboard.press('Escape');
      } else {
        // the outage banner, a toast, the jump and the status in each of its states
        await page.evaluate(() => {
          document.getElementById('outage').hidden = false;
          document.getElementById('jump').hidden = false;
          document.getElementById('outage-text').textContent = 'Trying again in 3s.';
          document.getElementById('toast').hidden = false;
          document.getElementById('toast').textContent = 'Not connected: your message is kept.';
        });
        for (const state of ['connecting', 'reconnecting', 'offline']) {
          await page.evaluate((s) => { document.getElementById('status').dataset.state = s; }, state);
          found.push(...(await seriousViolations(page)).map((v) => `${where} ${state}: ${v}`));
        }
        const measured = await textContrasts(page);
        assert.ok(measured.avatars >= 4.5, `${where}: white on an avatar at ${measured.avatars.toFixed(2)}:1`);
        assert.ok(measured.bubble >= 4.5, `${where}: white on the own bubble at ${measured.bubble.toFixed(2)}:1`);
        assert.ok(measured.unread >= 4.5, `${where}: an unread count on its pill at ${measured.unread.toFixed(2)}:1`);
      }
      await context.close();
      // bo's box emptied ends its "typing", so the next page's join sees a fresh one (a
      // page repeats "typing" only every few seconds while its box stays filled)
      await bo.fill('#text', '');
    }
  }
  await bo.context().close();
  await cy.context().close();
  assert.deepEqual(found, []);
  assert.deepEqual(errors, []);
});
