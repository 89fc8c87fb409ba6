// luahub.js: the browser client of luahub's room protocol (docs/protocol.md).
// One ES module, no dependencies, no build step; luahub serves it at /luahub.js.
//
//   import { Hub } from '/luahub.js';
//   const hub = new Hub({ token: async () => (await fetch('/token')).text() });
//   const news = hub.room('news', { recent: 20 });
//   news.on('publication', (pub) => show(pub.data));
//   news.on('subscribed', (s) => { if (s.missed) say('some messages were missed'); });
//   news.subscribe();
//   const answer = await hub.rpc('time', {});
//
// It reconnects by itself (backoff with jitter) and resubscribes every room since the
// last position it saw, so a page gets what it missed exactly once, in order, or an
// event saying some were missed.

const VERSION = 1;
const CLOSE = { expired: 4001, unsupported: 4002, unauthorized: 4003 };

class Emitter {
  #handlers = new Map();

  on(event, fn) {
    if (!this.#handlers.has(event)) this.#handlers.set(event, new Set());
    this.#handlers.get(event).add(fn);
    return () => this.off(event, fn);
  }

  off(event, fn) { this.#handlers.get(event)?.delete(fn); }

  emit(event, value) {
    for (const fn of this.#handlers.get(event) || []) {
      try { fn(value); } catch (err) { setTimeout(() => { throw err; }); }
    }
  }
}

function failure(code, message) {
  const err = new Error(message || code);
  err.code = code;
  return err;
}

// A room of the hub. Events: publication {data, offset, epoch}, message (data pushed
// without being kept), subscribed {recovered, missed, count (publications replayed), epoch, offset}, unsubscribed
// {code, message}, error (the subscribe was refused: no retry until subscribe(); or, with
// code "unavailable", the server could not read the history now, its broker being down:
// tried again with the backoff).
export class Room extends Emitter {
  constructor(hub, name, options = {}) {
    super();
    this.hub = hub;
    this.name = name;
    this.options = options;
    this.state = 'unsubscribed';   // unsubscribed | subscribing | subscribed
    this.wanted = false;
    this.epoch = null;
    this.offset = null;
    this._buffer = [];
    this._attempt = 0;             // subscribes answered "unavailable" in a row
    this._retry = null;
  }

  // Subscribes now, and again after every reconnect, until unsubscribe().
  subscribe() {
    this.wanted = true;
    if (this.state === 'unsubscribed' && this.hub.state === 'connected') return this._send();
    return Promise.resolve();
  }

  async unsubscribe() {
    this.wanted = false;
    clearTimeout(this._retry);
    const was = this.state;
    this.state = 'unsubscribed';
    if (was !== 'unsubscribed' && this.hub.state === 'connected') {
      await this.hub._call({ op: 'unsubscribe', room: this.name }).catch(() => {});
    }
  }

  publish(data, options) {
    return this.hub._call({ op: 'publish', room: this.name, data }, options);
  }

  presence(options) { return this.hub._call({ op: 'presence', room: this.name }, options); }

  presenceStats(options) { return this.hub._call({ op: 'presence_stats', room: this.name }, options); }

  async _send() {
    clearTimeout(this._retry);
    this._retry = null;
    this.state = 'subscribing';
    this._buffer = [];
    const since = this.offset === null ? undefined : { epoch: this.epoch, offset: this.offset };
    const command = { op: 'subscribe', room: this.name, since, recent: this.options.recent, data: this.options.data };
    let result;
    try {
      result = await this.hub._call(command);
    } catch (err) {
      if (this.state !== 'subscribing') return;
      this.state = 'unsubscribed';
      // a lost connection resubscribes by itself, a broker that is down is waited for;
      // a refusal is the page's to handle
      if (err.code === 'unavailable') {
        this._retry = setTimeout(() => {
          if (this.wanted && this.state === 'unsubscribed' && this.hub.state === 'connected') this._send();
        }, this.hub._backoff(this._attempt++));
      } else if (err.code !== 'disconnected') {
        this.wanted = false;
      }
      if (err.code !== 'disconnected') this.emit('error', err);
      return;
    }
    if (this.state !== 'subscribing') return;
    this.state = 'subscribed';
    this._attempt = 0;
    // another epoch is another stream: offsets of the old one say nothing about it
    if (result.epoch !== this.epoch) this.offset = null;
    this.epoch = result.epoch ?? null;
    const missed = since !== undefined && result.recovered === false;
    const publications = result.publications || [];
    this.emit('subscribed', { recovered: result.recovered === true, missed, count: publications.length, epoch: this.epoch, offset: result.offset });
    for (const p of publications) this._take({ data: p.data, offset: p.offset, epoch: this.epoch });
    if (typeof result.offset === 'number' && (this.offset === null || result.offset > this.offset)) {
      this.offset = result.offset;
    }
    const buffered = this._buffer;
    this._buffer = [];
    for (const pub of buffered) this._take(pub);
  }

  // A publication not past the room's position is a copy seen already: dropped.
  _take(pub) {
    if (typeof pub.offset === 'number') {
      if (this.offset !== null && pub.offset <= this.offset) return;
      this.offset = pub.offset;
    }
    this.emit('publication', pub);
  }

  _push(m) {
    if (m.push === 'msg') {
      if (this.state !== 'unsubscribed') this.emit('message', m.data);
    } else if (m.push === 'pub') {
      const pub = { data: m.data, offset: m.offset, epoch: m.epoch };
      if (this.state === 'subscribing') this._buffer.push(pub);
      else if (this.state === 'subscribed') this._take(pub);
    } else if (m.push === 'unsubscribed') {
      this.state = 'unsubscribed';
      this.wanted = false;
      this.emit('unsubscribed', { code: m.code, message: m.message });
    }
  }
}

// The connection. Options: url (default ws(s)://this host/ws), or urls (several, e.g. one
// per node of a cluster: each attempt takes the next, in turn, with the backoff, so a
// page whose node died reconnects to another; hub.url is the one of the last attempt),
// token (a function that returns a token or a promise of one; called on every connect
// and when the server asks for a fresh one), name, data (sent with connect), timeout (ms
// for a reply, 10000), backoff { min: 500, max: 15000 } (ms). Events: state {state, previous, code, reason},
// connected (connect's result), message (a message push to this client, or a frame that
// is not the protocol's: the server's own frames), error.
export class Hub extends Emitter {
  constructor(options = {}) {
    super();
    this.options = options;
    const own = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws`;
    this.urls = options.urls?.length ? [...options.urls] : [options.url || own];
    this.url = this.urls[0];
    this._next = 0;                // the index in urls of the next attempt
    this.state = 'disconnected';   // disconnected | connecting | connected | closed
    this.rooms = new Map();
    this.attempt = 0;
    this._ws = null;
    this._id = 0;
    this._pending = new Map();     // id -> { resolve, reject, timer }
    this._waiting = [];            // commands made while not connected
    this._retry = null;
  }

  room(name, options) {
    if (!this.rooms.has(name)) this.rooms.set(name, new Room(this, name, options));
    return this.rooms.get(name);
  }

  connect() {
    if (this._ws || this.state === 'connecting') return;
    clearTimeout(this._retry);
    this._retry = null;
    this._setState('connecting');
    this.url = this.urls[this._next];
    this._next = (this._next + 1) % this.urls.length;
    const ws = new WebSocket(this.url);
    this._ws = ws;
    ws.onopen = () => { if (this._ws === ws) this._hello(); };
    ws.onmessage = (event) => { if (this._ws === ws) this._frame(event.data); };
    ws.onclose = (event) => { if (this._ws === ws) this._lost(event.code, event.reason); };
  }

  // Closes for good (until connect()).
  disconnect() {
    clearTimeout(this._retry);
    this._retry = null;
    const ws = this._ws;
    this._ws = null;
    if (ws) ws.close(1000);
    this._drop('disconnected');
    this._setState('closed');
  }

  // Whether a reconnect is waiting: now() skips the wait (e.g. the page became visible).
  reconnectNow() {
    if (this._retry) {
      this.attempt = 0;
      this.connect();
    }
  }

  rpc(method, data, options) {
    return this._call({ op: 'rpc', method, data }, options).then((r) => r.data);
  }

  presence(room, options) { return this.room(room).presence(options); }

  async _hello() {
    try {
      const token = this.options.token ? await this.options.token() : undefined;
      const result = await this._send({ op: 'connect', version: VERSION, token, name: this.options.name, data: this.options.data });
      this.attempt = 0;
      this._setState('connected');
      this.emit('connected', result);
      for (const room of this.rooms.values()) if (room.wanted) room._send();
      const waiting = this._waiting;
      this._waiting = [];
      for (const w of waiting) this._send(w.command, w.options).then(w.resolve, w.reject);
    } catch (err) {
      this.emit('error', err);
    }
  }

  _setState(state, code, reason) {
    if (state === this.state) return;
    const previous = this.state;
    this.state = state;
    this.emit('state', { state, previous, code, reason });
  }

  // A command: sent now when connected, else when the connection is back (within the timeout).
  _call(command, options) {
    if (this.state === 'connected') return this._send(command, options);
    if (this.state === 'closed') return Promise.reject(failure('closed', 'the connection is closed'));
    return new Promise((resolve, reject) => {
      const w = { command, options, resolve, reject };
      this._waiting.push(w);
      setTimeout(() => {
        const i = this._waiting.indexOf(w);
        if (i >= 0) {
          this._waiting.splice(i, 1);
          reject(failure('timeout', `no connection for ${command.op}`));
        }
      }, options?.timeout ?? this.options.timeout ?? 10000);
    });
  }

  _send(command, options) {
    return new Promise((resolve, reject) => {
      const id = ++this._id;
      const ms = options?.timeout ?? this.options.timeout ?? 10000;
      const timer = setTimeout(() => {
        this._pending.delete(id);
        reject(failure('timeout', `no reply to ${command.op} within ${ms} ms`));
      }, ms);
      this._pending.set(id, { resolve, reject, timer });
      this._ws.send(JSON.stringify({ ...command, id }));
    });
  }

  _frame(text) {
    let m;
    try { m = JSON.parse(text); } catch { this.emit('message', text); return; }
    if (m === null || typeof m !== 'object') { this.emit('message', m); return; }
    if (typeof m.push === 'string') return this._push(m);
    const pending = m.id !== undefined && this._pending.get(m.id);
    if (pending) {
      this._pending.delete(m.id);
      clearTimeout(pending.timer);
      if (m.error) pending.reject(failure(m.error.code, m.error.message));
      else pending.resolve(m.result);
    } else if (m.error && m.id === undefined) {
      this.emit('error', failure(m.error.code, m.error.message));
    } else if (m.id === undefined) {
      this.emit('message', m);
    }
  }

  async _push(m) {
    if (m.push === 'refresh') {
      try {
        const token = await this.options.token();
        await this._send({ op: 'refresh', token });
      } catch (err) {
        this.emit('error', err);   // the server closes with 4001 or 4003; the close says which
      }
    } else if (m.room !== undefined) {
      this.rooms.get(m.room)?._push(m);
    } else if (m.push === 'msg') {
      this.emit('message', m.data);
    }
  }

  _drop(code) {
    for (const [id, p] of this._pending) {
      clearTimeout(p.timer);
      p.reject(failure(code, 'the connection was lost'));
      this._pending.delete(id);
    }
    for (const room of this.rooms.values()) if (room.state !== 'unsubscribed') room.state = 'unsubscribed';
  }

  // The wait before try number attempt + 1 (from 0): the ceiling doubles from min up to
  // max; jitter: a restart is not hit by every page at once.
  _backoff(attempt) {
    const { min = 500, max = 15000 } = this.options.backoff || {};
    const ceiling = Math.min(max, min * 2 ** attempt);
    return ceiling / 2 + Math.random() * (ceiling / 2);
  }

  _lost(code, reason) {
    this._ws = null;
    this._drop('disconnected');
    // refused credentials or version: reconnecting would be refused the same way
    if (code === CLOSE.unauthorized || code === CLOSE.unsupported) {
      this._setState('closed', code, reason);
      return;
    }
    this._setState('disconnected', code, reason);
    const delay = this._backoff(this.attempt);
    this.attempt += 1;
    this.retryAt = Date.now() + delay;
    this._retry = setTimeout(() => this.connect(), delay);
  }
}
