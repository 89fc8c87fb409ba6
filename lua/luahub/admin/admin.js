// The admin page: signs in with the api_key, then follows the hub over its admin socket
// (a one-time ticket from POST /api/admin/ticket opens ws_path as an admin socket, which
// the core feeds one snapshot a second) and draws it. The key is kept in this tab's
// sessionStorage only, and sent only in Authorization headers.
import { drawChart } from './chart.js';
import { startConsole } from './console.js';

const WINDOW = 120;                 // samples (seconds) the charts span
const KEY_STORE = 'luahub-admin-key';
const $ = (id) => document.getElementById(id);

let key = sessionStorage.getItem(KEY_STORE);
let feed = null;                    // the admin WebSocket
let retry = 0;                      // reconnect attempts since the last snapshot
let prev = null;                    // the previous snapshot, for rates
let openRoom = null;                // the room whose members are shown
let snapshots = 0;
const history = { clients: [], in: [], out: [], drops: [], errors: [], frames: [] };

function api(path, method = 'GET') {
  return fetch(path, { method, headers: { Authorization: `Bearer ${key}` }, cache: 'no-store' });
}

function setLink(state, text) {
  $('link').dataset.state = state;
  $('link').textContent = text;
}

// ------------------------------------------------------------------ signing in and out
function showDash(on) {
  $('login').hidden = on;
  $('dash').hidden = !on;
  $('signout').hidden = !on;
}

function signOut(message) {
  key = null;
  sessionStorage.removeItem(KEY_STORE);
  if (feed) feed.close();
  feed = null;
  showDash(false);
  setLink('offline', 'Signed out');
  $('login-error').textContent = message || '';
  $('key').value = '';
  $('key').focus();
}

async function connect() {
  if (!key) return;
  setLink('connecting', 'Connecting…');
  let res;
  try {
    res = await api('/api/admin/ticket', 'POST');
  } catch {
    return reconnectLater();
  }
  if (res.status === 401) return signOut('That key was refused.');
  if (!res.ok) return reconnectLater();
  const t = await res.json();
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  const url = `${scheme}//${location.host}${t.ws_path}?${t.param}=${t.ticket}`;
  startConsole(`${scheme}//${location.host}${t.ws_path}`);
  const ws = new WebSocket(url);
  feed = ws;
  ws.onmessage = (ev) => { retry = 0; show(JSON.parse(ev.data)); };
  ws.onclose = () => { if (feed === ws) { feed = null; reconnectLater(); } };
}

function reconnectLater() {
  if (!key) return;
  setLink('offline', 'Disconnected, retrying');
  retry++;
  setTimeout(connect, Math.min(5000, 500 * retry));
}

$('login').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  key = $('key').value;
  const res = await api('/api/stats').catch(() => null);
  if (!res || res.status === 401) {
    key = null;
    $('login-error').textContent = res ? 'That key was refused.' : 'The server cannot be reached.';
    $('key').focus();
    return;
  }
  sessionStorage.setItem(KEY_STORE, key);
  $('login-error').textContent = '';
  showDash(true);
  $('main').focus({ preventScroll: true });
  connect();
});
$('signout').addEventListener('click', () => signOut());

// ------------------------------------------------------------------ one snapshot
const count = new Intl.NumberFormat('en');
const rateFmt = (v) => (v >= 100 || v === 0 ? count.format(Math.round(v)) : v.toFixed(1));
const intFmt = (v) => count.format(Math.round(v));

function bytes(n) {
  for (const unit of ['B', 'KiB', 'MiB']) {
    if (n < 1024) return `${Math.round(n)} ${unit}`;
    n /= 1024;
  }
  return `${n.toFixed(1)} GiB`;
}

function duration(s) {
  if (s < 120) return `${Math.floor(s)} s`;
  if (s < 7200) return `${Math.floor(s / 60)} min`;
  return `${(s / 3600).toFixed(1)} h`;
}

function push(list, v) {
  list.push(v);
  if (list.length > WINDOW) list.shift();
}

const errorTotal = (s) => Object.values(s.errors).reduce((a, b) => a + b, 0);

function show(s) {
  setLink('online', s.state === 'draining' ? 'Live (draining)' : 'Live');
  snapshots++;
  const dt = prev ? s.time - prev.time : 0;
  const rate = (k) => (dt > 0 ? Math.max(0, (s[k] - prev[k]) / dt) : 0);
  const errRate = dt > 0 ? Math.max(0, (errorTotal(s) - errorTotal(prev)) / dt) : 0;
  push(history.clients, s.clients);
  push(history.in, rate('received'));
  push(history.out, rate('sent'));
  push(history.drops, rate('dropped'));
  push(history.errors, errRate);
  push(history.frames, s.queue_frames);
  prev = s;

  const self = s.nodes.find((n) => n.self);
  $('node').textContent = self && self.id ? `node ${self.id}` : '';
  $('v-clients').textContent = intFmt(s.clients);
  $('v-rooms').textContent = intFmt(s.room_count);
  $('v-in').textContent = rateFmt(history.in.at(-1));
  $('v-out').textContent = rateFmt(history.out.at(-1));
  $('v-drops').textContent = rateFmt(history.drops.at(-1));
  $('v-queue').textContent = `${intFmt(s.queue_frames)} frames, ${bytes(s.queue_bytes)}`;
  $('v-reloads').textContent = `${s.reloads_ok} / ${s.reloads_failed}`;
  $('v-errors').textContent = intFmt(errorTotal(s));
  $('v-errors').title = Object.entries(s.errors).map(([k, v]) => `${k}: ${v}`).join(', ');
  $('v-uptime').textContent = duration(s.uptime);

  drawChart($('c-conn'), $('c-conn-d'), [{ name: 'open', cls: 's1', points: history.clients }], WINDOW, intFmt);
  drawChart($('c-msg'), $('c-msg-d'), [{ name: 'in', cls: 's3', points: history.in },
    { name: 'out', cls: 's1', points: history.out }], WINDOW, rateFmt);
  drawChart($('c-drop'), $('c-drop-d'), [{ name: 'drops', cls: 's2', points: history.drops },
    { name: 'errors', cls: 's4', points: history.errors }], WINDOW, rateFmt);
  drawChart($('c-queue'), $('c-queue-d'), [{ name: 'frames', cls: 's4', points: history.frames }], WINDOW, intFmt);

  showRooms(s);
  showNodes(s);
  if (openRoom !== null && snapshots % 3 === 0) loadMembers();
}

// The rooms table is rebuilt only when its rooms or their order change, and the room
// button that had focus gets it back, so keyboard use survives the updates.
function showRooms(s) {
  const body = $('rooms').tBodies[0];
  const names = s.rooms.map(([name]) => name).join('\n');
  if (body.dataset.names === names) {
    s.rooms.forEach(([, n], i) => { body.rows[i].cells[1].textContent = intFmt(n); });
  } else {
    const focused = document.activeElement?.dataset?.room;
    body.replaceChildren(...s.rooms.map(([name, n]) => {
      const row = body.insertRow();
      row.insertCell().textContent = name;
      const size = row.insertCell();
      size.className = 'num';
      size.textContent = intFmt(n);
      const button = document.createElement('button');
      button.type = 'button';
      button.className = 'link';
      button.textContent = 'Members';
      button.dataset.room = name;
      button.setAttribute('aria-label', `Members of ${name}`);
      button.addEventListener('click', () => selectRoom(name));
      row.insertCell().append(button);
      if (name === openRoom) row.setAttribute('aria-current', 'true');
      return row;
    }));
    body.dataset.names = names;
    if (focused !== undefined) body.querySelector(`button[data-room="${CSS.escape(focused)}"]`)?.focus();
  }
  const shown = s.rooms.length;
  $('rooms-note').textContent = shown === 0 ? 'No room has members.'
    : shown < s.room_count ? `The ${shown} largest of ${intFmt(s.room_count)} rooms.`
    : `${intFmt(s.room_count)} rooms.`;
}

function showNodes(s) {
  $('cluster-state').textContent = s.cluster === 'none' ? 'No cluster configured: this node only.'
    : `Broker: ${s.cluster}. ${s.nodes.length} live ${s.nodes.length === 1 ? 'node' : 'nodes'}.`;
  $('nodes').tBodies[0].replaceChildren(...s.nodes.map((n) => {
    const row = document.createElement('tr');
    for (const text of [n.self ? `${n.id || '(unnamed)'} (this node)` : n.id, intFmt(n.clients),
      intFmt(n.rooms), n.self ? 'now' : `${n.age.toFixed(1)} s ago`]) {
      row.insertCell().textContent = text;
    }
    for (const i of [1, 2, 3]) row.cells[i].className = 'num';
    return row;
  }));
}

// ------------------------------------------------------------------ room view
function selectRoom(name) {
  openRoom = name;
  for (const row of $('rooms').tBodies[0].rows) {
    if (row.cells[2].firstChild.dataset.room === name) row.setAttribute('aria-current', 'true');
    else row.removeAttribute('aria-current');
  }
  $('room-view').hidden = false;
  $('room-h').textContent = `Room ${name}`;
  $('members').tBodies[0].replaceChildren();
  $('room-note').textContent = 'Loading members…';
  $('room-view').focus();
  loadMembers();
}

async function loadMembers() {
  const room = openRoom;
  const res = await api(`/api/presence?room=${encodeURIComponent(room)}`).catch(() => null);
  if (room !== openRoom) return;
  if (!res || !res.ok) {
    $('room-note').textContent = 'The members could not be loaded.';
    return;
  }
  const { members } = await res.json();
  $('room-note').textContent = members.length === 0 ? 'Nobody is in this room now.'
    : `${members.length} ${members.length === 1 ? 'member' : 'members'} on all nodes.`;
  $('members').tBodies[0].replaceChildren(...members.map((m) => {
    const row = document.createElement('tr');
    for (const text of [m.client_id, m.user_id ?? '—', m.node || '(this node)']) row.insertCell().textContent = text;
    return row;
  }));
}
$('room-refresh').addEventListener('click', loadMembers);

// ------------------------------------------------------------------ start
if (key) {
  showDash(true);
  connect();
} else {
  showDash(false);
}
