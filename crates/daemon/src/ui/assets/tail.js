// The live tail: records as they arrive, from the daemon's live feed
// (/api/feed, server-sent events) filtered by the rule language. With an
// empty filter the last records stored come first. A daemon configured
// without a feed sink is followed by polling the store instead.

import { details } from './details.js';
import {
  api,
  contextChips,
  firstLine,
  fullTime,
  h,
  levelBadge,
  levelClass,
  query,
  taskHref,
  timestamp,
} from './util.js';

const KEEP = 5000; // rows kept on screen
const BACKLOG = 100;
const POLL_MS = 1000;

export class TailView {
  constructor(el, params) {
    this.el = el;
    this.filter = params.get('filter') || '';
    this.paused = false;
    this.held = [];
    this.rows = []; // the records shown, oldest first
    this.selected = -1;
    this.seen = new Set();
    this.pending = [];
    this.flushing = false;
    this.build();
    this.start();
  }

  unmount() {
    this.stop();
  }

  build() {
    this.filterIn = h('input', {
      type: 'search',
      name: 'filter',
      value: this.filter,
      placeholder: 'level>=WARNING logger=app context.user=leo message~"timed out"',
      'aria-label': 'filter in the rule language',
      spellcheck: 'false',
      autocomplete: 'off',
    });
    this.stateEl = h('span.live-state', { role: 'status' });
    this.pauseBtn = h('button', { type: 'button', onclick: () => this.togglePause(), title: 'pause (p)' }, 'pause');
    this.errorEl = h('p.error', { hidden: true });
    this.noteEl = h('p.note.dim', { hidden: true });
    this.list = h('div.tail-list', { role: 'log', 'aria-live': 'off', tabindex: '0' });
    this.list.addEventListener('click', (e) => {
      const row = e.target.closest('.tail-row');
      if (!row || e.target.closest('a')) return;
      this.select(Number(row.dataset.index), true);
    });
    this.el.append(
      h(
        'section.tail-view',
        null,
        h(
          'form.toolbar',
          {
            role: 'search',
            onsubmit: (e) => {
              e.preventDefault();
              this.apply();
            },
          },
          h('h1', null, 'Live tail'),
          h('span.filter-box', null, this.filterIn),
          h('button', { type: 'submit' }, 'apply'),
          this.pauseBtn,
          h('button', { type: 'button', onclick: () => this.clear(), title: 'clear the list' }, 'clear'),
          this.stateEl,
        ),
        this.errorEl,
        this.noteEl,
        this.list,
      ),
    );
  }

  focusFilter() {
    this.filterIn.focus();
    this.filterIn.select();
  }

  apply() {
    this.filter = this.filterIn.value.trim();
    history.replaceState(null, '', `/tail${query({ filter: this.filter })}`);
    this.stop();
    this.clear();
    this.start();
  }

  // -- sources ------------------------------------------------------------

  start() {
    this.errorEl.hidden = true;
    this.noteEl.hidden = true;
    this.setState('connecting…', 'connecting');
    const url = `/api/feed${query({ filter: this.filter })}`;
    const source = new EventSource(url);
    this.source = source;
    // Records that arrive while the backlog loads wait for it.
    let backlogDone = this.filter !== '';
    const early = [];
    source.onopen = () => this.setState('live', 'live');
    source.onmessage = (ev) => {
      let r;
      try {
        r = JSON.parse(ev.data);
      } catch {
        return;
      }
      if (backlogDone) this.add(r);
      else early.push(r);
    };
    source.addEventListener('lagged', (ev) => {
      this.add({ lagged: Number(ev.data) });
    });
    // A reload took this feed away: the daemon says why, then ends.
    source.addEventListener('closed', (ev) => {
      if (this.source !== source) return;
      let why = 'the live feed closed';
      try {
        why = JSON.parse(ev.data).error || why;
      } catch {
        /* keep the plain reason */
      }
      source.close();
      this.explainClosed(url, why);
    });
    source.onerror = () => {
      if (this.source !== source) return;
      if (source.readyState === EventSource.CLOSED) this.explainClosed(url);
      else this.setState('reconnecting…', 'connecting');
    };
    if (this.filter === '') {
      this.noteEl.hidden = true;
      api(`/api/records${query({ limit: BACKLOG })}`)
        .then((answer) => {
          if (this.source !== source) return;
          for (const r of answer.records.reverse()) this.add(r);
        })
        .catch(() => {})
        .finally(() => {
          backlogDone = true;
          for (const r of early) this.add(r);
        });
    } else {
      this.noteEl.hidden = false;
      this.noteEl.textContent = 'Showing the records that match from now on.';
    }
  }

  /** EventSource gives no status: ask again with fetch to say why. */
  async explainClosed(url, reason = '') {
    const abort = new AbortController();
    let status = 0;
    let message = reason || 'the live feed closed';
    try {
      const r = await fetch(url, { signal: abort.signal });
      status = r.status;
      if (!r.ok) {
        const body = await r.json().catch(() => null);
        // The daemon's own reason, when it gave one, says more.
        message = reason || (body && body.error) || `${r.status} ${r.statusText}`;
      }
    } catch {
      message = 'cannot reach distlogd';
    } finally {
      abort.abort();
    }
    if (status === 404 && !this.filter) {
      // No feed sink: follow the store instead.
      this.noteEl.hidden = false;
      this.noteEl.textContent = `${message}; following the store instead (every second).`;
      this.startPolling();
      return;
    }
    if (status === 400 || status === 404) {
      this.errorEl.hidden = false;
      this.errorEl.textContent = message;
      this.setState('stopped', 'error');
      return;
    }
    this.setState(`${message}; retrying…`, 'connecting');
    this.retry = setTimeout(() => {
      this.stop();
      this.start();
    }, 2000);
  }

  startPolling() {
    this.stop();
    this.setState('following the store', 'live');
    let after = this.rows.reduce((m, r) => (r.id > m ? r.id : m), 0);
    const tick = async () => {
      try {
        const q = after ? { after, order: 'asc', limit: 1000 } : { limit: BACKLOG };
        const answer = await api(`/api/records${query(q)}`);
        const rows = after ? answer.records : answer.records.reverse();
        for (const r of rows) {
          this.add(r);
          after = Math.max(after, r.id);
        }
        if (!after) after = -1;
      } catch {
        this.setState('cannot reach distlogd; retrying…', 'connecting');
      }
      this.poller = setTimeout(tick, POLL_MS);
    };
    tick();
  }

  stop() {
    if (this.source) this.source.close();
    this.source = null;
    clearTimeout(this.poller);
    clearTimeout(this.retry);
  }

  setState(text, kind) {
    this.stateEl.textContent = this.paused ? `paused (${this.held.length} waiting)` : text;
    this.stateEl.className = `live-state ${this.paused ? 'paused' : kind}`;
    this.stateKind = kind;
    this.stateText = text;
  }

  togglePause() {
    this.paused = !this.paused;
    this.pauseBtn.textContent = this.paused ? 'resume' : 'pause';
    if (!this.paused) {
      const held = this.held;
      this.held = [];
      for (const r of held) this.add(r);
    }
    this.setState(this.stateText, this.stateKind);
  }

  clear() {
    this.rows = [];
    this.held = [];
    this.pending = [];
    this.seen.clear();
    this.selected = -1;
    this.list.replaceChildren();
  }

  // -- rows ---------------------------------------------------------------

  add(r) {
    if (!r.lagged) {
      // The backlog (from the store) and the feed can overlap by a few.
      const sig = `${r.received}|${r.created}|${r.key}|${r.message}`;
      if (this.seen.has(sig)) return;
      this.seen.add(sig);
      if (this.seen.size > 4 * KEEP) this.seen.clear();
    }
    if (this.paused) {
      this.held.push(r);
      if (this.held.length > KEEP) this.held.shift();
      this.setState(this.stateText, this.stateKind);
      return;
    }
    this.pending.push(r);
    if (!this.flushing) {
      this.flushing = true;
      requestAnimationFrame(() => this.flush());
    }
  }

  /** Adds what arrived since the last frame in one go. */
  flush() {
    this.flushing = false;
    const list = this.list;
    const atBottom = list.scrollTop + list.clientHeight >= list.scrollHeight - 30;
    const frag = document.createDocumentFragment();
    for (const r of this.pending) {
      this.rows.push(r);
      frag.append(this.drawRow(r, this.rows.length - 1));
    }
    this.pending = [];
    list.append(frag);
    const extra = this.rows.length - KEEP;
    if (extra > 0) {
      this.rows.splice(0, extra);
      for (let i = 0; i < extra; i++) list.firstChild.remove();
      this.selected -= extra;
      let i = 0;
      for (const row of list.children) row.dataset.index = String(i++);
    }
    if (atBottom) list.scrollTop = list.scrollHeight;
  }

  drawRow(r, index) {
    if (r.lagged) {
      return h(
        'div.tail-row.lagged',
        { dataset: { index: String(index) } },
        `… ${r.lagged} records skipped: this page fell behind the feed`,
      );
    }
    return h(
      `div.tail-row.${levelClass(r.levelno)}`,
      { dataset: { index: String(index), key: r.key ?? '' } },
      h('span.time.dim', { title: fullTime(r.created) }, timestamp(r.created, { millis: true })),
      levelBadge(r),
      h('span.where.dim', { title: `${r.host} pid ${r.process}` }, `${r.host}:${r.process ?? '?'}`),
      h('span.logger.dim', null, r.logger),
      h('span.msg', null, firstLine(r.message)),
      contextChips(r.context, 3),
      r.root ? h('a.task-link.dim', { href: taskHref(r.key || r.root), title: 'this record in its task' }, 'tree') : null,
    );
  }

  select(i, open) {
    if (i < 0 || i >= this.rows.length) return;
    const rows = this.list.children;
    if (this.selected >= 0 && rows[this.selected]) rows[this.selected].classList.remove('selected');
    this.selected = i;
    rows[i].classList.add('selected');
    rows[i].scrollIntoView({ block: 'nearest' });
    const r = this.rows[i];
    if ((open || details.isOpen()) && !r.lagged) details.showRecord(r);
  }

  onKey(e) {
    switch (e.key) {
      case 'p':
        this.togglePause();
        return true;
      case 'ArrowDown':
      case 'j':
        this.select(Math.min(this.rows.length - 1, this.selected + 1));
        return true;
      case 'ArrowUp':
      case 'k':
        this.select(Math.max(0, this.selected < 0 ? this.rows.length - 1 : this.selected - 1));
        return true;
      case 'Enter':
        this.select(this.selected, true);
        return true;
      default:
        return false;
    }
  }
}
