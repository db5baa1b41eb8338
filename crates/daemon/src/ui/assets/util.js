// Shared helpers: the API, DOM building, formatting.

/** An error the API answered with (`{"error": …}`), or a network failure. */
export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

const offline = { count: 0, listeners: new Set() };

/** Calls `fn(isOffline)` whenever the daemon stops or starts answering. */
export function onOffline(fn) {
  offline.listeners.add(fn);
}

function setOffline(value) {
  const was = offline.count > 0;
  offline.count = value ? offline.count + 1 : 0;
  if (was !== value) for (const fn of offline.listeners) fn(value);
}

/** GET a JSON answer of the API. */
export async function api(path, { signal } = {}) {
  let response;
  try {
    response = await fetch(path, { signal, headers: { Accept: 'application/json' } });
  } catch (e) {
    if (e.name === 'AbortError') throw e;
    setOffline(true);
    throw new ApiError(0, 'cannot reach distlogd');
  }
  setOffline(false);
  let body = null;
  try {
    body = await response.json();
  } catch {
    body = null;
  }
  if (!response.ok) {
    const message = (body && body.error) || `${response.status} ${response.statusText}`;
    throw new ApiError(response.status, message);
  }
  return body;
}

/** Builds a query string from the set (non-empty) values of `params`. */
export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
  }
  const s = q.toString();
  return s ? `?${s}` : '';
}

/** `h('div.row.scope', {title: 'x', onclick: f}, child, 'text', …)`. */
export function h(spec, attrs, ...children) {
  const [tag, ...classes] = spec.split('.');
  const node = document.createElement(tag || 'div');
  if (classes.length) node.className = classes.join(' ');
  if (attrs) {
    for (const [k, v] of Object.entries(attrs)) {
      if (v === undefined || v === null || v === false) continue;
      if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
      else if (k === 'dataset') Object.assign(node.dataset, v);
      else if (k === 'text') node.textContent = v;
      else node.setAttribute(k, v === true ? '' : String(v));
    }
  }
  append(node, children);
  return node;
}

function append(node, children) {
  for (const c of children) {
    if (c === undefined || c === null || c === false) continue;
    if (Array.isArray(c)) append(node, c);
    else node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

const pad = (n, w = 2) => String(n).padStart(w, '0');

/** `2024-04-18 22:23:19` in local time (the date only when not today). */
export function timestamp(epoch, { millis = false, alwaysDate = false } = {}) {
  if (epoch === null || epoch === undefined) return '';
  const d = new Date(epoch * 1000);
  const today = new Date();
  const sameDay =
    d.getFullYear() === today.getFullYear() &&
    d.getMonth() === today.getMonth() &&
    d.getDate() === today.getDate();
  let t = `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  if (millis) t += `.${pad(d.getMilliseconds(), 3)}`;
  if (sameDay && !alwaysDate) return t;
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${t}`;
}

/** Full ISO-like local time with milliseconds, for tooltips and details. */
export function fullTime(epoch) {
  if (epoch === null || epoch === undefined) return '';
  return timestamp(epoch, { millis: true, alwaysDate: true });
}

/** `850 µs`, `12.3 ms`, `4.21 s`, `3 m 05 s`, `2 h 04 m`. */
export function duration(seconds) {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return '';
  const s = Math.max(0, seconds);
  if (s < 0.0009995) return `${Math.round(s * 1e6)} µs`;
  if (s < 0.9995) return `${trimZeros((s * 1000).toPrecision(3))} ms`;
  if (s < 59.95) return `${s.toFixed(s < 9.995 ? 2 : 1)} s`;
  const t = Math.round(s);
  if (t < 3600) return `${Math.floor(t / 60)} m ${pad(t % 60)} s`;
  if (t < 86400) return `${Math.floor(t / 3600)} h ${pad(Math.floor((t % 3600) / 60))} m`;
  return `${Math.floor(t / 86400)} d ${pad(Math.floor((t % 86400) / 3600))} h`;
}

/** `12.0` → `12`, `1.50` → `1.5`, `200` stays. */
function trimZeros(text) {
  return text.includes('.') ? text.replace(/0+$/, '').replace(/\.$/, '') : text;
}

/** Seconds since the epoch, now. */
export const now = () => Date.now() / 1000;

export const STATUS = {
  running: { mark: '▶', label: 'running' },
  succeeded: { mark: '✓', label: 'succeeded' },
  failed: { mark: '✗', label: 'failed' },
  unfinished: { mark: '?', label: 'unfinished' },
};

/** A status badge: `✓ succeeded`. */
export function statusBadge(status, { short = false } = {}) {
  const s = STATUS[status] || { mark: '·', label: status || '' };
  return h(
    `span.status.st-${status}`,
    { title: s.label, dataset: { status } },
    h('span.mark', { 'aria-hidden': 'true' }, s.mark),
    short ? null : h('span.label', null, s.label),
  );
}

/** The CSS class of a level: lv-debug, lv-info, lv-warning, lv-error, lv-critical. */
export function levelClass(levelno) {
  if (levelno >= 50) return 'lv-critical';
  if (levelno >= 40) return 'lv-error';
  if (levelno >= 30) return 'lv-warning';
  if (levelno >= 20) return 'lv-info';
  return 'lv-debug';
}

export function levelBadge(record) {
  const name = record.levelname || String(record.levelno);
  return h(`span.level.${levelClass(record.levelno)}`, { title: `level ${record.levelno}` }, name);
}

/** A value as short text: strings as they are, the rest as JSON. */
export function show(value) {
  if (typeof value === 'string') return value;
  return JSON.stringify(value);
}

/** `user=leo arg=42` chips of a context object. */
export function contextChips(context, limit = 6) {
  if (!context || typeof context !== 'object') return null;
  const entries = Object.entries(context).filter(([k]) => k !== 'key');
  if (!entries.length) return null;
  const chips = entries
    .slice(0, limit)
    .map(([k, v]) => h('span.chip', { title: `${k}=${show(v)}` }, h('span.k', null, k), '=', show(v)));
  if (entries.length > limit) chips.push(h('span.chip.more', null, `+${entries.length - limit}`));
  return h('span.chips', null, chips);
}

/** The first line of a message, for one-line rows. */
export function firstLine(text) {
  if (text === null || text === undefined) return '';
  const s = String(text);
  const i = s.indexOf('\n');
  return i < 0 ? s : `${s.slice(0, i)} …`;
}

/** Runs `fn` every `ms` while the page is visible, and once right away.
 *  Returns a stop function. `fn` may be async; ticks never overlap. */
export function every(ms, fn) {
  let timer = null;
  let stopped = false;
  let busy = false;
  const tick = async () => {
    timer = null;
    if (stopped) return;
    if (document.visibilityState === 'visible' && !busy) {
      busy = true;
      try {
        await fn();
      } catch (e) {
        if (e.name !== 'AbortError') console.warn(e);
      } finally {
        busy = false;
      }
    }
    if (!stopped) timer = setTimeout(tick, ms);
  };
  const onVisible = () => {
    if (document.visibilityState === 'visible' && timer !== null && !busy) {
      clearTimeout(timer);
      tick();
    }
  };
  document.addEventListener('visibilitychange', onVisible);
  tick();
  return () => {
    stopped = true;
    if (timer !== null) clearTimeout(timer);
    document.removeEventListener('visibilitychange', onVisible);
  };
}

/** True when a key event comes from a text box (so shortcuts stay off). */
export function typing(event) {
  const t = event.target;
  if (!t || !t.tagName) return false;
  return t.isContentEditable || ['INPUT', 'TEXTAREA', 'SELECT'].includes(t.tagName);
}

/** Debounces `fn` by `ms`. */
export function debounce(fn, ms) {
  let t = null;
  return (...args) => {
    clearTimeout(t);
    t = setTimeout(() => fn(...args), ms);
  };
}

/** URL path for a task, scope or record id. */
export const taskHref = (id) =>
  `/tasks/${String(id).split('/').map(encodeURIComponent).join('/').replace(/%40/g, '@')}`;

/** Goes to `href` inside the page (app.js routes it), without a reload. */
export const go = (href) => window.distlogNavigate(href);
