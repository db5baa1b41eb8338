// The task list: recent root tasks, newest first, filtered, polled.

import { api, contextChips, debounce, duration, every, fullTime, go, h, now, query, statusBadge, taskHref, timestamp } from './util.js';

const POLL_MS = 1500;
const PAGE = 100;

const RANGES = [
  ['', 'any time'],
  ['15m', 'last 15 minutes', 900],
  ['1h', 'last hour', 3600],
  ['24h', 'last 24 hours', 86400],
  ['7d', 'last 7 days', 7 * 86400],
  ['custom', 'between…'],
];

const STATUSES = ['', 'running', 'succeeded', 'failed', 'unfinished'];

/** `datetime-local` value ⇄ epoch seconds, in local time. */
function toLocalInput(epoch) {
  if (!epoch) return '';
  const d = new Date(epoch * 1000);
  const off = d.getTimezoneOffset() * 60000;
  return new Date(d.getTime() - off).toISOString().slice(0, 16);
}
function fromLocalInput(value) {
  if (!value) return null;
  const t = new Date(value).getTime();
  return Number.isFinite(t) ? t / 1000 : null;
}

export class TaskList {
  constructor(root, params) {
    this.root = root;
    this.filter = {
      status: STATUSES.includes(params.get('status')) ? params.get('status') : '',
      range: params.get('range') || '',
      since: Number(params.get('since')) || null,
      until: Number(params.get('until')) || null,
      text: params.get('text') || '',
      host: params.get('host') || '',
      context: params.get('context') || '',
    };
    if (!RANGES.some((r) => r[0] === this.filter.range)) this.filter.range = '';
    if ((this.filter.since || this.filter.until) && !this.filter.range) this.filter.range = 'custom';
    this.limit = PAGE;
    this.tasks = [];
    this.signature = '';
    this.selected = null;
    this.loadedOnce = false;
    this.build();
    this.stopPoll = every(POLL_MS, () => this.load());
    this.ticker = setInterval(() => this.tickElapsed(), 1000);
  }

  unmount() {
    this.stopPoll();
    clearInterval(this.ticker);
    if (this.abort) this.abort.abort();
  }

  build() {
    const f = this.filter;
    const onChange = () => this.filterChanged();
    this.statusSel = h(
      'select',
      { name: 'status', 'aria-label': 'status', onchange: onChange },
      STATUSES.map((s) => h('option', { value: s, selected: s === f.status }, s || 'any status')),
    );
    this.rangeSel = h(
      'select',
      { name: 'range', 'aria-label': 'time range', onchange: onChange },
      RANGES.map(([v, label]) => h('option', { value: v, selected: v === f.range }, label)),
    );
    this.sinceIn = h('input', {
      type: 'datetime-local',
      name: 'since',
      'aria-label': 'started at or after',
      value: toLocalInput(f.since),
      onchange: onChange,
    });
    this.untilIn = h('input', {
      type: 'datetime-local',
      name: 'until',
      'aria-label': 'started before',
      value: toLocalInput(f.until),
      onchange: onChange,
    });
    this.customBox = h('span.custom-range', null, this.sinceIn, '–', this.untilIn);
    this.customBox.hidden = f.range !== 'custom';
    const typed = debounce(onChange, 250);
    this.textIn = h('input', {
      type: 'search',
      name: 'text',
      placeholder: 'message or root id',
      'aria-label': 'text in the task message or root id',
      value: f.text,
      oninput: typed,
    });
    this.hostIn = h('input', {
      type: 'search',
      name: 'host',
      placeholder: 'host',
      'aria-label': 'host',
      value: f.host,
      oninput: typed,
      size: 10,
    });
    this.contextIn = h('input', {
      type: 'search',
      name: 'context',
      placeholder: 'context: user=leo',
      title: 'field=value pairs of the root context, comma-separated (user=leo,request.id=7)',
      'aria-label': 'context field=value',
      value: f.context,
      oninput: typed,
      size: 16,
    });
    this.countEl = h('span.count.dim');
    this.tbody = h('tbody');
    this.table = h(
      'table.tasks',
      { 'aria-label': 'tasks' },
      h(
        'thead',
        null,
        h(
          'tr',
          null,
          h('th.c-status', null, 'status'),
          h('th.c-msg', null, 'task'),
          h('th.c-start', null, 'started'),
          h('th.c-dur', null, 'duration'),
          h('th.c-host', null, 'host'),
          h('th.c-proc', null, 'process'),
          h('th.c-num', null, 'records'),
          h('th.c-num.c-fail', null, 'failures'),
        ),
      ),
      this.tbody,
    );
    this.more = h('button.more', { type: 'button', hidden: true, onclick: () => this.showMore() }, 'show more');
    this.emptyEl = h('div.empty', { hidden: true });
    this.errorEl = h('p.error', { hidden: true });
    this.tbody.addEventListener('click', (e) => {
      const tr = e.target.closest('tr[data-root]');
      if (!tr || e.target.closest('a')) return;
      go(taskHref(tr.dataset.root));
    });
    this.root.append(
      h(
        'section.tasks-view',
        null,
        h(
          'form.toolbar',
          { role: 'search', onsubmit: (e) => e.preventDefault() },
          h('h1', null, 'Tasks'),
          this.statusSel,
          this.rangeSel,
          this.customBox,
          this.textIn,
          this.hostIn,
          this.contextIn,
          this.countEl,
        ),
        this.errorEl,
        h('div.table-wrap', null, this.table),
        this.emptyEl,
        this.more,
      ),
    );
  }

  focusFilter() {
    this.textIn.focus();
    this.textIn.select();
  }

  filterChanged() {
    const f = this.filter;
    f.status = this.statusSel.value;
    f.range = this.rangeSel.value;
    this.customBox.hidden = f.range !== 'custom';
    f.since = f.range === 'custom' ? fromLocalInput(this.sinceIn.value) : null;
    f.until = f.range === 'custom' ? fromLocalInput(this.untilIn.value) : null;
    f.text = this.textIn.value.trim();
    f.host = this.hostIn.value.trim();
    f.context = this.contextIn.value.trim();
    this.limit = PAGE;
    const url = `/${query({
      status: f.status,
      range: f.range === 'custom' ? '' : f.range,
      since: f.since,
      until: f.until,
      text: f.text,
      host: f.host,
      context: f.context,
    })}`;
    history.replaceState(null, '', url);
    this.load();
  }

  params() {
    const f = this.filter;
    const p = { status: f.status, text: f.text, host: f.host, context: f.context, limit: this.limit };
    const preset = RANGES.find((r) => r[0] === f.range);
    if (preset && preset[2]) p.since = (now() - preset[2]).toFixed(3);
    if (f.range === 'custom') {
      p.since = f.since;
      p.until = f.until;
    }
    return p;
  }

  async load() {
    if (this.abort) this.abort.abort();
    const abort = new AbortController();
    this.abort = abort;
    let answer;
    try {
      answer = await api(`/api/tasks${query(this.params())}`, { signal: abort.signal });
    } catch (e) {
      if (e.name === 'AbortError') return;
      this.errorEl.hidden = false;
      this.errorEl.textContent = `Could not list the tasks: ${e.message}`;
      return;
    }
    this.errorEl.hidden = true;
    this.tasks = answer.tasks;
    const signature = JSON.stringify(this.tasks);
    if (signature !== this.signature || !this.loadedOnce) {
      this.signature = signature;
      this.render();
    }
    this.loadedOnce = true;
  }

  showMore() {
    this.limit = Math.min(10000, this.limit + PAGE);
    this.load();
  }

  render() {
    const rows = this.tasks.map((t) => this.row(t));
    this.tbody.replaceChildren(...rows);
    const f = this.filter;
    const filtered = f.status || f.range || f.text || f.host || f.context;
    this.countEl.textContent = `${this.tasks.length}${this.tasks.length >= this.limit ? '+' : ''} tasks`;
    this.more.hidden = this.tasks.length < this.limit || this.limit >= 10000;
    this.emptyEl.hidden = this.tasks.length > 0;
    this.table.hidden = this.tasks.length === 0;
    if (!this.tasks.length) {
      this.emptyEl.replaceChildren(
        filtered
          ? h('p', null, 'No task matches these filters.')
          : h(
              'div',
              null,
              h('p', null, 'No tasks yet. Tasks appear here as soon as a client logs inside one:'),
              h(
                'pre',
                null,
                "with distlog.task('toplevel', user='leo'):\n    logger.info('into task')",
              ),
            ),
      );
    }
    if (this.selected && !this.tasks.some((t) => t.root === this.selected)) this.selected = null;
    this.markSelected();
  }

  row(t) {
    const msg = t.message ?? '(opening record not received)';
    return h(
      `tr.task.st-${t.status}`,
      { dataset: { root: t.root, status: t.status } },
      h('td.c-status', null, statusBadge(t.status)),
      h(
        'td.c-msg',
        null,
        h('a.task-link', { href: taskHref(t.root), title: t.root }, msg),
        h('span.root-id.dim', null, t.root.slice(0, 8)),
        t.context ? h('span.task-context.dim', null, contextChips(t.context, 4)) : null,
      ),
      h('td.c-start', { title: fullTime(t.started) }, timestamp(t.started)),
      h(
        'td.c-dur',
        { dataset: t.status === 'running' ? { started: t.started } : {} },
        t.status === 'running' ? `${duration(now() - t.started)} so far` : duration(t.duration),
      ),
      h('td.c-host', null, t.host ?? ''),
      h('td.c-proc', null, t.process ?? ''),
      h('td.c-num', null, t.records.toLocaleString('en')),
      h('td.c-num.c-fail', null, t.failures ? h('span.fail-count', null, t.failures) : ''),
    );
  }

  tickElapsed() {
    for (const td of this.tbody.querySelectorAll('td[data-started]')) {
      td.textContent = `${duration(now() - Number(td.dataset.started))} so far`;
    }
  }

  markSelected() {
    for (const tr of this.tbody.children) {
      const on = tr.dataset.root === this.selected;
      tr.classList.toggle('selected', on);
      tr.setAttribute('aria-selected', on ? 'true' : 'false');
    }
  }

  onKey(e) {
    const rows = this.tasks;
    if (!rows.length) return false;
    let i = rows.findIndex((t) => t.root === this.selected);
    switch (e.key) {
      case 'ArrowDown':
      case 'j':
        i = Math.min(rows.length - 1, i + 1);
        break;
      case 'ArrowUp':
      case 'k':
        i = Math.max(0, i < 0 ? 0 : i - 1);
        break;
      case 'Home':
        i = 0;
        break;
      case 'End':
        i = rows.length - 1;
        break;
      case 'Enter':
      case 'o':
        if (i >= 0) go(taskHref(rows[i].root));
        return i >= 0;
      default:
        return false;
    }
    this.selected = rows[i].root;
    this.markSelected();
    const tr = this.tbody.children[i];
    if (tr) tr.scrollIntoView({ block: 'nearest' });
    return true;
  }
}
