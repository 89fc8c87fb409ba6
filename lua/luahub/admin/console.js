// The console: connects to the hub's ws_path as any client would (the script's hooks
// and handler see it), sends what is typed, and lists every frame both ways.
const MAX_FRAMES = 500;
const $ = (id) => document.getElementById(id);
let socket = null;
let started = false;

function stamp() {
  const t = document.createElement('time');
  const now = new Date();
  t.dateTime = now.toISOString();
  t.textContent = now.toTimeString().slice(0, 8);
  return t;
}

function log(kind, label, text) {
  const list = $('frames');
  const item = document.createElement('li');
  item.className = kind;
  const dir = document.createElement('span');
  dir.className = 'dir';
  dir.textContent = label;
  item.append(stamp(), dir, text);
  list.append(item);
  while (list.children.length > MAX_FRAMES) list.firstElementChild.remove();
  list.scrollTop = list.scrollHeight;
}

function setConnected(on, state) {
  $('console-state').textContent = state;
  $('console-toggle').textContent = on ? 'Disconnect' : 'Connect';
  $('console-text').disabled = !on;
  $('console-send-btn').disabled = !on;
  $('console-url').readOnly = on;
}

function open(url) {
  let ws;
  try {
    ws = new WebSocket(url);
  } catch (err) {
    setConnected(false, `Cannot connect: ${err.message}`);
    return;
  }
  ws.binaryType = 'arraybuffer';
  socket = ws;
  setConnected(true, `Connecting to ${url}…`);
  ws.onopen = () => {
    setConnected(true, `Connected to ${url}`);
    log('event', 'open', url);
  };
  ws.onmessage = (ev) => {
    log('in', '←', typeof ev.data === 'string' ? ev.data : `[binary, ${ev.data.byteLength} bytes]`);
  };
  ws.onclose = (ev) => {
    if (socket === ws) socket = null;
    log('event', 'close', `code ${ev.code}${ev.reason ? `: ${ev.reason}` : ''}`);
    setConnected(false, `Closed (code ${ev.code})`);
  };
}

// url: the hub's ws_path on this host, proposed until the user edits it.
export function startConsole(url) {
  if (!$('console-url').value) $('console-url').value = url;
  if (started) return;
  started = true;
  $('console-connect').addEventListener('submit', (ev) => {
    ev.preventDefault();
    if (socket) socket.close(1000, 'closed from the admin console');
    else open($('console-url').value);
  });
  $('console-send').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const text = $('console-text').value;
    if (!socket || socket.readyState !== WebSocket.OPEN || text === '') return;
    socket.send(text);
    log('out', '→', text);
    $('console-text').value = '';
    $('console-text').focus();
  });
  // Enter sends, Shift+Enter starts a new line
  $('console-text').addEventListener('keydown', (ev) => {
    if (ev.key === 'Enter' && !ev.shiftKey) {
      ev.preventDefault();
      $('console-send').requestSubmit();
    }
  });
  $('frames-clear').addEventListener('click', () => $('frames').replaceChildren());
}
