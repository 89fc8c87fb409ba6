// luahub chat web client: plain JavaScript, no build step, on luahub's client library
// (/luahub.js, the room protocol). Everything that came from the network is put on the
// page with textContent, never parsed as HTML. The library reconnects on its own
// (backoff with jitter) and resubscribes to the room since the last message shown, so
// the messages sent meanwhile appear exactly once, or the page says some were missed.
import { Hub } from '/luahub.js';

{
  const $ = (id) => document.getElementById(id);
  const ui = {
    app: $('app'), status: $('status'), statusText: $('status-text'), roomTitle: $('room-title'),
    sidebarToggle: $('sidebar-toggle'), scrim: $('scrim'), sidebar: $('sidebar'),
    sidebarClose: $('sidebar-close'), chat: $('chat'), announcer: $('announcer'),
    roomList: $('room-list'), newRoomForm: $('new-room-form'), newRoom: $('new-room'),
    memberList: $('member-list'), memberCount: $('member-count'),
    meAvatar: $('me-avatar'), meName: $('me-name'), leave: $('leave-button'),
    messages: $('messages'), typing: $('typing'), toast: $('toast'), jump: $('jump'),
    outage: $('outage'), outageText: $('outage-text'), retry: $('retry'),
    composer: $('composer'), text: $('text'), send: $('send'),
    loginForm: $('login-form'), username: $('username'), room: $('room'), roomOptions: $('room-options'),
    loginError: $('login-error'), join: $('join'),
  };

  const TYPING_REFRESH_MS = 2500;   // while typing, tell the room this often
  const TYPING_IDLE_MS = 4000;      // stop "typing" after this long without a key
  const TYPING_EXPIRE_MS = 7000;    // forget someone's "typing" after this long
  const GROUP_WINDOW_MS = 5 * 60 * 1000;

  const state = {
    me: localStorage.getItem('luahub.chat.username') || '',
    wanted: null,        // { username, room } to (re)join whenever a connection opens
    room: null,          // the room shown
    joined: false,       // the server confirmed the join on this connection
    wasJoined: false,    // joined before the connection dropped: show "reconnected"
    rooms: [],
    members: [],
    seen: new Set(),     // ids of the messages on screen
    senders: new Set(),  // this page's connections (the server's sender ids): own messages
    typers: new Map(),   // username -> expiry timer
    lastAuthor: null,
    lastTime: 0,
    lastDay: null,       // the local date of the last message shown: a divider on change
    // Positions {epoch, offset} in the rooms' message streams: the newest known (from the
    // room list, and the room shown's own publications) and how far the reader has seen
    // each room it has viewed. Unread counts are their difference, so a message counts
    // once however often it is delivered (a recovery replays it) and rooms never viewed
    // count nothing.
    heads: new Map(),
    read: new Map(),
    replaying: false,    // the publications of a (re)subscribe are coming: not announced
  };

  // ------------------------------------------------------------------ connection
  const hub = new Hub({ name: 'chat', backoff: { min: 500, max: 15000 } });
  let sub = null;          // the room subscribed to (a Room of the library)
  let countdownTimer = null;

  // The status is a live region: it is written only when it changes, so the countdown
  // does not have it read out four times a second.
  function setStatus(kind, text) {
    if (ui.status.dataset.state === kind && ui.statusText.textContent === text) return;
    ui.status.dataset.state = kind;
    ui.statusText.textContent = text;
    ui.status.title = text;
  }

  // The outage banner, in the chat itself (on a phone the status is only a dot): from
  // the lost connection until it is back, with a button that retries at once.
  function setOutage(text, retrying) {
    ui.outage.hidden = text === null;
    if (text === null) return;
    if (ui.outageText.textContent !== text) ui.outageText.textContent = text;
    ui.retry.disabled = retrying;
  }

  hub.on('state', ({ state: now, previous }) => {
    clearInterval(countdownTimer);
    ui.app.dataset.connection = now;
    if (now === 'connecting') {
      const again = previous === 'disconnected' && state.wasJoined;
      setStatus('connecting', again ? 'Reconnecting…' : 'Connecting…');
      if (again) setOutage('Reconnecting…', true);
    } else if (now === 'connected') {
      setStatus('online', 'Connected');
      setOutage(null);
      hideToast();   // "not connected" and the like are out of date now
      ui.send.disabled = sending;
    } else {
      ui.send.disabled = true;
      if (state.joined) state.wasJoined = true;
      state.joined = false;
      clearTypers();
      const tick = () => {
        const seconds = Math.max(1, Math.ceil(((hub.retryAt || Date.now()) - Date.now()) / 1000));
        const offline = navigator.onLine === false;
        setStatus(offline ? 'offline' : 'reconnecting', offline ? 'Offline' : `Reconnecting in ${seconds}s`);
        if (state.wasJoined) {
          setOutage(offline ? 'You are offline. What you type is kept until the connection is back.'
            : `Trying again in ${seconds}s. What you type is kept until the connection is back.`, false);
        }
      };
      tick();
      countdownTimer = setInterval(tick, 250);
    }
  });

  // Own messages are those sent from one of this page's connections, never those of a
  // name: whoever had the name before may have left it to a newcomer.
  hub.on('connected', (result) => {
    const id = result && result.data && result.data.sender;
    if (typeof id === 'string') state.senders.add(id);
  });

  // The server's own frames (the room list, errors, the leaver's own notice).
  hub.on('message', (m) => {
    if (m && typeof m === 'object' && handlers[m.type]) handlers[m.type](m);
  });

  function reconnectNow() { hub.reconnectNow(); }
  ui.retry.addEventListener('click', reconnectNow);

  const RATE_RETRY_MS = 500;   // the rate limit lets a frame through again by then

  // "typing" is best effort and says nothing when refused, but its end must arrive or the
  // others see "typing" until it expires: a refused end is sent again once.
  function sendTyping(typing, retried) {
    if (hub.state !== 'connected') return false;
    hub.rpc('typing', { typing }).catch((err) => {
      if (err.code === 'rate_limited' && !typing && !retried && !typingSentAt) {
        setTimeout(() => { if (!typingSentAt) sendTyping(false, true); }, RATE_RETRY_MS);
      }
    });
    return true;
  }

  // The room's events: its messages are publications, the rest (join, leave, typing,
  // presence) messages pushed without being kept.
  function watch(room) {
    if (room.watched) return;
    room.watched = true;
    room.on('subscribed', (s) => {
      if (sub !== room) return;
      handlers.history({ room: room.name, messages: [], replayed: s.count });
      reached(room.name, s.epoch, s.offset);
      if (s.missed) addNotice('Some messages were missed while you were away', null, 'divider');
      // the library hands them over right after this event, in the same task
      state.replaying = true;
      queueMicrotask(() => { state.replaying = false; });
    });
    room.on('publication', (p) => {
      if (sub !== room) return;
      handlers.message(p.data, state.replaying);
      reached(room.name, p.epoch, p.offset);
    });
    room.on('message', (m) => { if (sub === room && m && handlers[m.type]) handlers[m.type](m); });
    room.on('error', (err) => { if (sub === room) handlers.error({ text: err.message }); });
  }

  window.addEventListener('online', reconnectNow);
  window.addEventListener('offline', () => { if (hub.state !== 'connected') setStatus('offline', 'Offline'); });
  document.addEventListener('visibilitychange', () => {
    if (!document.hidden) {
      reconnectNow();
      markSeen();
    }
  });

  // ------------------------------------------------------------------ rendering helpers
  function make(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function hue(name) {
    let h = 0;
    for (const ch of String(name)) h = (h * 31 + ch.codePointAt(0)) % 360;
    return h;
  }

  // An initial on a colour of its own per name; paints node when given.
  function avatar(name, node = make('span', 'avatar')) {
    node.textContent = Array.from(String(name || '?'))[0];
    node.style.setProperty('--hue', hue(name));
    node.setAttribute('aria-hidden', 'true');
    return node;
  }

  function timeOf(iso) {
    const date = new Date(iso);
    const valid = !Number.isNaN(date.getTime());
    const node = make('time', '', valid
      ? date.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' }) : '');
    if (valid) {
      node.dateTime = date.toISOString();
      node.title = date.toLocaleString();
    }
    return { node, ms: valid ? date.getTime() : Date.now() };
  }

  function nearBottom() {
    const list = ui.messages;
    return list.scrollHeight - list.scrollTop - list.clientHeight < 80;
  }

  // The empty-room welcome stays until the first message: notices ("You joined") are
  // not a conversation.
  function append(node, force) {
    const stick = force || nearBottom();
    const empty = node.classList.contains('msg') && ui.messages.querySelector('.empty');
    if (empty) empty.remove();
    ui.messages.append(node);
    if (stick) scrollToEnd();
    else if (node.classList.contains('msg')) ui.jump.hidden = false;   // a message out of sight
  }

  function scrollToEnd() {
    ui.messages.scrollTop = ui.messages.scrollHeight;
    ui.jump.hidden = true;
  }

  ui.jump.addEventListener('click', () => {
    scrollToEnd();
    ui.text.focus();
  });
  ui.messages.addEventListener('scroll', () => { if (nearBottom()) ui.jump.hidden = true; });

  // Web addresses in a message become links, the rest stays text: only http and https
  // addresses the URL parser takes, opened apart from this page (noopener noreferrer).
  const ADDRESS = /\bhttps?:\/\/[^\s<>"'`]+/gi;

  // The end of a sentence is not part of an address, nor a ")" that closes a parenthesis
  // opened before it ("(see https://example.com)").
  function trimAddress(address) {
    for (;;) {
      if (/[.,;:!?'"]$/.test(address)) address = address.slice(0, -1);
      else if (address.endsWith(')') && address.split(')').length > address.split('(').length) address = address.slice(0, -1);
      else return address;
    }
  }

  function linkified(text) {
    const parts = [];
    let last = 0;
    for (const match of text.matchAll(ADDRESS)) {
      const address = trimAddress(match[0]);
      let url = null;
      try { url = new URL(address); } catch { continue; }   // not an address: stays text
      if (url.protocol !== 'http:' && url.protocol !== 'https:') continue;
      parts.push(text.slice(last, match.index));
      const link = make('a', '', address);
      link.href = url.href;
      link.target = '_blank';
      link.rel = 'noopener noreferrer';
      parts.push(link);
      last = match.index + address.length;
    }
    parts.push(text.slice(last));
    return parts;
  }

  function clearMessages() {
    ui.messages.replaceChildren();
    ui.jump.hidden = true;
    state.seen.clear();
    state.lastAuthor = null;
    state.lastDay = null;
  }

  function showEmpty(room) {
    const node = make('li', 'empty');
    node.append(make('strong', '', `Welcome to #${room}`), 'No messages yet. Say hello!');
    ui.messages.replaceChildren(node);
  }

  function addNotice(text, iso, className) {
    const node = make('li', 'notice' + (className ? ' ' + className : ''), text);
    if (iso) node.append(timeOf(iso).node);
    state.lastAuthor = null;
    append(node);
  }

  // "Today", "Yesterday" or the date, in the reader's time zone.
  function dayLabel(ms) {
    const midnight = (t) => new Date(t).setHours(0, 0, 0, 0);
    const days = Math.round((midnight(Date.now()) - midnight(ms)) / 86400000);
    if (days === 0) return 'Today';
    if (days === 1) return 'Yesterday';
    return new Date(ms).toLocaleDateString([], { weekday: 'long', year: 'numeric', month: 'long', day: 'numeric' });
  }

  function addMessage(m, fromHistory) {
    if (m.id && state.seen.has(m.id)) return;
    if (m.id) state.seen.add(m.id);
    const own = typeof m.sender === 'string' && state.senders.has(m.sender);
    const time = timeOf(m.timestamp);
    const day = new Date(time.ms).toDateString();
    if (day !== state.lastDay) {
      state.lastDay = day;
      addNotice(dayLabel(time.ms), null, 'divider day');
    }
    const first = state.lastAuthor !== m.username || time.ms - state.lastTime > GROUP_WINDOW_MS;
    state.lastAuthor = m.username;
    state.lastTime = time.ms;

    const item = make('li', 'msg' + (own ? ' own' : '') + (first ? ' first' : ''));
    item.dataset.author = m.username;
    const body = make('div', 'body');
    const meta = make('div', 'meta');
    meta.append(make('span', 'author', own ? 'You' : m.username), timeOf(m.timestamp).node);
    const row = make('div', 'bubble-row');
    const text = make('div', 'bubble');
    text.append(...linkified(String(m.text)));
    row.append(text, time.node);
    body.append(meta, row);
    item.append(avatar(m.username), body);
    append(item, own && !fromHistory);

    if (!fromHistory && !own) announce(`${m.username}: ${m.text}`);
  }

  // The message list is not a live region, so a room's history is not read out at once:
  // new messages from others are, through this one (its last few lines kept).
  function announce(text) {
    ui.announcer.append(make('p', '', text));
    while (ui.announcer.childElementCount > 3) ui.announcer.firstElementChild.remove();
  }

  // ------------------------------------------------------------------ unread counts
  // A later position replaces an earlier one; another epoch is another stream (the
  // server lost the old one's history), which replaces it too.
  function later(known, pos) {
    return !known || known.epoch !== pos.epoch || pos.offset > known.offset;
  }

  function unread(room) {
    const seen = state.read.get(room);
    const head = state.heads.get(room);
    if (!seen || !head) return 0;
    if (seen.epoch !== head.epoch) return head.offset;   // the whole new stream came after
    return Math.max(0, head.offset - seen.offset);
  }

  function learned(room, epoch, offset) {
    if (typeof epoch !== 'string' || typeof offset !== 'number') return;
    const pos = { epoch, offset };
    if (later(state.heads.get(room), pos)) state.heads.set(room, pos);
  }

  // The room shown is seen up to its newest known position while the page is in sight
  // (a hidden page's count shows in its title).
  function markSeen() {
    const head = state.room && state.heads.get(state.room);
    if (head && !document.hidden) state.read.set(state.room, head);
    updateTitle();
    renderRooms();
  }

  // A publication (or a subscribe's result) of the room shown.
  function reached(room, epoch, offset) {
    learned(room, epoch, offset);
    if (room === state.room) markSeen();
  }

  function updateTitle() {
    const base = state.room ? `#${state.room} · luahub chat` : 'luahub chat';
    const count = state.room ? unread(state.room) : 0;
    document.title = count ? `(${count}) ${base}` : base;
  }

  function unreadLabel(count) { return count > 99 ? '99+' : String(count); }

  function renderRooms() {
    const names = new Map();
    for (const r of state.rooms) {
      if (r && typeof r.name === 'string') names.set(r.name, Number(r.members) || 0);
    }
    if (!names.has('general')) names.set('general', 0);
    if (state.room && !names.has(state.room)) names.set(state.room, state.members.length);
    // a room viewed stays listed once empty: its count is still worth seeing
    for (const name of state.read.keys()) if (!names.has(name)) names.set(name, 0);
    // the list is redrawn as counts change: a keyboard user on a room stays on it
    const focused = ui.roomList.contains(document.activeElement) ? document.activeElement.dataset.room : null;
    let total = 0;
    const items = [...names.entries()].sort((a, b) => a[0].localeCompare(b[0])).map(([name, n]) => {
      const li = make('li', name === state.room ? 'current' : '');
      const button = make('button');
      button.type = 'button';
      button.dataset.room = name;
      if (name === state.room) button.setAttribute('aria-current', 'true');
      const count = name === state.room ? 0 : unread(name);
      total += count;
      button.append(make('span', 'name', name), make('span', 'n', n ? String(n) : ''));
      if (count) button.append(make('span', 'unread', unreadLabel(count)));
      // read as "side, 3 unread, 2 members", not as the digits run together
      button.setAttribute('aria-label', [name, count && `${count} unread`,
        n && `${n} ${n === 1 ? 'member' : 'members'}`].filter(Boolean).join(', '));
      button.addEventListener('click', () => switchRoom(name));
      li.append(button);
      return li;
    });
    ui.roomList.replaceChildren(...items);
    if (focused !== null) items.find((li) => li.firstChild.dataset.room === focused)?.firstChild.focus();
    // on a phone the list is in the closed drawer: its button shows that something waits
    if (total) ui.sidebarToggle.dataset.unread = unreadLabel(total);
    else delete ui.sidebarToggle.dataset.unread;
    ui.sidebarToggle.setAttribute('aria-label', total ? `Rooms and members, ${total} unread` : 'Rooms and members');
    ui.roomOptions.replaceChildren(...[...names.keys()].map((name) => {
      const option = document.createElement('option');
      option.value = name;
      return option;
    }));
  }

  function renderMembers() {
    const items = state.members.map((name) => {
      const li = make('li');
      li.append(avatar(name), make('span', 'member-name', name));
      if (name === state.me) li.append(make('span', 'you', '(you)'));
      return li;
    });
    ui.memberList.replaceChildren(...items);
    ui.memberCount.textContent = String(state.members.length);
  }

  function renderTyping() {
    const names = [...state.typers.keys()];
    let text = '';
    if (names.length === 1) text = `${names[0]} is typing`;
    else if (names.length === 2) text = `${names[0]} and ${names[1]} are typing`;
    else if (names.length > 2) text = `${names.length} people are typing`;
    ui.typing.textContent = text;
  }

  function setTyper(name, typing) {
    clearTimeout(state.typers.get(name));
    if (typing) {
      state.typers.set(name, setTimeout(() => setTyper(name, false), TYPING_EXPIRE_MS));
    } else {
      state.typers.delete(name);
    }
    renderTyping();
  }

  function clearTypers() {
    for (const timer of state.typers.values()) clearTimeout(timer);
    state.typers.clear();
    renderTyping();
  }

  let toastTimer = null;
  function toast(text) {
    ui.toast.textContent = text;
    ui.toast.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(hideToast, 4000);
  }

  function hideToast() {
    clearTimeout(toastTimer);
    ui.toast.hidden = true;
  }

  function showLogin(error) {
    setView('login');
    ui.loginError.textContent = error || '';
    ui.join.disabled = false;
    ui.username.value = ui.username.value || state.me;
    ui.room.value = ui.room.value || state.room || '';
    ui.username.focus();
  }

  // ------------------------------------------------------------------ messages from the server
  const handlers = {
    rooms(m) {
      state.rooms = Array.isArray(m.rooms) ? m.rooms : [];
      for (const r of state.rooms) if (r && typeof r.name === 'string') learned(r.name, r.epoch, r.offset);
      markSeen();
    },

    history(m) {
      const switched = m.room !== state.room;
      state.room = m.room;
      state.joined = true;
      state.wanted = { username: state.me, room: m.room };
      localStorage.setItem('luahub.chat.username', state.me);
      if (location.hash !== '#' + m.room) history.replaceState(null, '', '#' + m.room);
      setView('chat');
      ui.roomTitle.textContent = m.room;
      ui.meName.textContent = state.me;
      avatar(state.me, ui.meAvatar);
      updateTitle();
      if (switched) {
        clearMessages();
        clearTypers();
      }
      if (switched && !m.replayed) showEmpty(m.room);
      ui.messages.scrollTop = ui.messages.scrollHeight;
      renderRooms();
      ui.text.focus();
    },

    join(m) {
      if (m.room !== state.room) return;
      if (m.username === state.me) {
        if (state.wasJoined) addNotice('Reconnected', m.timestamp, 'divider');
        else addNotice(`You joined #${m.room}`, m.timestamp);
        state.wasJoined = false;
      } else {
        addNotice(`${m.username} joined`, m.timestamp);
      }
    },

    leave(m) {
      if (m.room !== state.room) return;
      setTyper(m.username, false);
      if (m.username === state.me && !state.wanted) {
        state.room = null;
        state.joined = false;
        clearMessages();
        updateTitle();
        showLogin();
        return;
      }
      if (m.username !== state.me) addNotice(`${m.username} left`, m.timestamp);
    },

    message(m, fromHistory = false) {
      if (m.room !== state.room) return;
      setTyper(m.username, false);
      addMessage(m, fromHistory);
    },

    typing(m) {
      if (m.room !== state.room || m.username === state.me) return;
      setTyper(m.username, m.typing !== false);
    },

    presence(m) {
      if (m.room !== state.room) return;
      state.members = Array.isArray(m.members) ? m.members.filter((n) => typeof n === 'string') : [];
      renderMembers();
      renderRooms();
    },

    error(m) {
      const text = typeof m.text === 'string' ? m.text : 'something went wrong';
      if (!state.joined) {
        state.wanted = null;
        showLogin(text);
      } else {
        state.wanted = { username: state.me, room: state.room };
        toast(text);
      }
    },
  };

  // ------------------------------------------------------------------ user actions
  function cleanRoom(value) {
    return value.trim().toLowerCase().replace(/\s+/g, '-');
  }

  // Subscribes to the room as username; the server leaves the current room first. Not
  // connected: the library subscribes as soon as the connection is back.
  function requestJoin(username, room) {
    state.me = username;
    state.wanted = { username, room };
    const old = sub;
    sub = hub.room(room, { recent: 50 });
    sub.options.data = { username };
    watch(sub);
    if (old && old !== sub) {
      old.wanted = false;
      old.state = 'unsubscribed';
    }
    if (old === sub && sub.state !== 'unsubscribed') {
      sub.unsubscribe().then(() => sub.subscribe());
    } else {
      sub.subscribe();
    }
  }

  function switchRoom(room) {
    closeSidebar();
    if (!room || room === state.room) return;
    requestJoin(state.me, room);
  }

  ui.loginForm.addEventListener('submit', (event) => {
    event.preventDefault();
    const username = ui.username.value.trim();
    if (!username) {
      ui.loginError.textContent = 'Pick a username first.';
      return;
    }
    ui.loginError.textContent = '';
    ui.join.disabled = true;
    state.room = null;
    state.joined = false;
    state.wasJoined = false;
    requestJoin(username, cleanRoom(ui.room.value) || 'general');
  });

  ui.newRoomForm.addEventListener('submit', (event) => {
    event.preventDefault();
    const room = cleanRoom(ui.newRoom.value);
    ui.newRoom.value = '';
    switchRoom(room);
  });

  ui.leave.addEventListener('click', () => {
    state.wanted = null;
    const room = sub;
    sub = null;
    if (room) room.unsubscribe();
    if (hub.state !== 'connected') {
      state.room = null;
      state.joined = false;
      clearMessages();
      showLogin();
    }
  });

  let typingSentAt = 0;
  let typingIdleTimer = null;

  function stopTyping() {
    clearTimeout(typingIdleTimer);
    if (typingSentAt) sendTyping(false);
    typingSentAt = 0;
  }

  function autosize() {
    ui.text.style.height = 'auto';
    ui.text.style.height = Math.min(ui.text.scrollHeight, 160) + 'px';
  }

  ui.text.addEventListener('input', () => {
    autosize();
    if (!state.joined) return;
    if (ui.text.value.trim() === '') {
      stopTyping();
      return;
    }
    const now = Date.now();
    if (now - typingSentAt > TYPING_REFRESH_MS && sendTyping(true)) typingSentAt = now;
    clearTimeout(typingIdleTimer);
    typingIdleTimer = setTimeout(stopTyping, TYPING_IDLE_MS);
  });

  ui.text.addEventListener('keydown', (event) => {
    if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      ui.composer.requestSubmit();
    }
  });

  // A message stays in the box, read-only ("sending"), until the server has taken it: a
  // refusal (the rate limit) or a lost connection hands it back, to be sent again.
  let sending = false;
  function setSending(on) {
    sending = on;
    ui.text.readOnly = on;
    ui.composer.setAttribute('aria-busy', String(on));
    ui.send.disabled = on || hub.state !== 'connected';
  }

  function notSent(err) {
    if (err.code === 'rate_limited') return 'Slow down: at most 5 messages a second. Your message is still in the box.';
    if (err.code === 'disconnected' || err.code === 'timeout') {
      return 'Not sent: the connection dropped. Your message is still in the box.';
    }
    return `Not sent: ${err.message}`;
  }

  ui.composer.addEventListener('submit', (event) => {
    event.preventDefault();
    const text = ui.text.value;
    if (!text.trim() || sending) return;
    if (!state.joined || hub.state !== 'connected') {
      toast('Not connected: your message is kept until the connection is back.');
      return;
    }
    clearTimeout(typingIdleTimer);
    setSending(true);
    hub.rpc('message', { text }).then(() => {
      typingSentAt = 0;   // the message itself ends "typing" for the others
      ui.text.value = '';
      autosize();
    }, (err) => {
      stopTyping();
      toast(notSent(err));
    }).finally(() => setSending(false));
  });

  // ------------------------------------------------------------------ focus
  // Tab stays on the surface in sight: what is behind the login card, the drawer while
  // it is off screen, and what is behind it while it is open are inert.
  const drawerLayout = matchMedia('(max-width: 760px)');

  function syncInert() {
    const login = ui.app.dataset.view === 'login';
    const drawer = drawerLayout.matches;
    const open = drawer && ui.app.dataset.sidebar === 'open';
    ui.sidebar.inert = login || (drawer && !open);
    ui.chat.inert = login || open;
    ui.sidebarToggle.inert = login || open;
  }
  drawerLayout.addEventListener('change', syncInert);

  function setView(view) {
    ui.app.dataset.view = view;
    syncInert();
  }

  function closeSidebar() {
    const wasOpen = ui.app.dataset.sidebar === 'open';
    delete ui.app.dataset.sidebar;
    ui.scrim.hidden = true;
    ui.sidebarToggle.setAttribute('aria-expanded', 'false');
    syncInert();
    if (wasOpen) ui.sidebarToggle.focus();
  }

  function openSidebar() {
    ui.app.dataset.sidebar = 'open';
    ui.scrim.hidden = false;
    ui.sidebarToggle.setAttribute('aria-expanded', 'true');
    syncInert();
    ui.sidebarClose.focus();
  }

  ui.sidebarToggle.addEventListener('click', () => {
    if (ui.app.dataset.sidebar === 'open') closeSidebar(); else openSidebar();
  });
  ui.sidebarClose.addEventListener('click', closeSidebar);
  ui.scrim.addEventListener('click', closeSidebar);
  document.addEventListener('keydown', (event) => {
    if (event.key === 'Escape' && ui.app.dataset.sidebar === 'open') closeSidebar();
  });

  // ------------------------------------------------------------------ start
  ui.username.value = state.me;
  ui.room.value = decodeURIComponent(location.hash.slice(1));
  ui.send.disabled = true;
  renderRooms();
  showLogin();
  hub.connect();
}
