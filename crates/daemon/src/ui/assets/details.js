// The details panel: every field of one record (from /api/records/{id}),
// or one scope's summary with its opening record.

import {
  api,
  contextChips,
  duration,
  fullTime,
  h,
  levelBadge,
  now,
  statusBadge,
  taskHref,
} from './util.js';

const panel = document.getElementById('details');
const titleEl = document.getElementById('details-title');
const bodyEl = document.getElementById('details-body');
document.getElementById('details-close').addEventListener('click', () => details.close());

let generation = 0;

/** A two-column table of fields; values that are objects print as JSON. */
function fieldTable(pairs, className = 'fields') {
  const rows = [];
  for (const [k, v] of pairs) {
    if (v === undefined) continue;
    let cell;
    if (v instanceof Node) cell = v;
    else if (v === null) cell = h('span.null', null, 'null');
    else if (typeof v === 'object') cell = h('pre.json', null, JSON.stringify(v, null, 2));
    else cell = String(v);
    rows.push(h('tr', null, h('th', { scope: 'row' }, k), h('td', null, cell)));
  }
  return h(`table.${className}`, null, h('tbody', null, rows));
}

function open(title) {
  generation += 1;
  titleEl.replaceChildren(title);
  bodyEl.replaceChildren();
  panel.hidden = false;
  document.body.classList.add('with-details');
  return generation;
}

function copyButton(label, text) {
  return h(
    'button.small',
    {
      type: 'button',
      onclick: async (e) => {
        try {
          await navigator.clipboard.writeText(text());
          e.target.textContent = 'copied';
        } catch {
          e.target.textContent = 'copy failed';
        }
        setTimeout(() => (e.target.textContent = label), 1500);
      },
    },
    label,
  );
}

function recordSummary(r) {
  const when = h('span', { title: String(r.created) }, fullTime(r.created));
  return fieldTable([
    ['level', levelBadge(r)],
    ['created', when],
    ['logger', r.logger],
    ['host', r.host],
    ['process', r.process],
    ['key', r.key ? h('a', { href: taskHref(r.key), 'data-link': true }, r.key) : null],
    ['event', r.event || undefined],
    ['duration', r.duration !== null && r.duration !== undefined ? duration(r.duration) : undefined],
    ['topic', r.topic],
    ['store id', r.id],
  ]);
}

export const details = {
  onClose: null,

  isOpen() {
    return !panel.hidden;
  },

  /** Shows one record: what the tree or tail already has at once, then
   *  every field as sent once `/api/records/{id-or-key}` answers. */
  async showRecord(row) {
    const gen = open(h('span.msg', null, row.message));
    const sections = h('div.sections');
    bodyEl.append(recordSummary(row));
    if (row.context && Object.keys(row.context).length) {
      bodyEl.append(h('h3', null, 'context'), fieldTable(Object.entries(row.context), 'fields ctx'));
    }
    if (row.exc_text) bodyEl.append(h('h3', null, 'traceback'), h('pre.traceback', null, row.exc_text));
    bodyEl.append(sections);
    const ref = row.id ?? row.key;
    if (ref === undefined || ref === null) {
      sections.append(h('p.dim', null, 'This record has no key or store id, so its other fields cannot be fetched.'));
      return;
    }
    sections.append(h('p.dim.loading', null, 'loading every field…'));
    let full;
    try {
      full = await api(`/api/records/${encodeURIComponent(ref)}`);
    } catch (e) {
      if (gen === generation) sections.replaceChildren(h('p.error', null, `Could not load the record: ${e.message}`));
      return;
    }
    if (gen !== generation) return;
    if (full.records) full = full.records[full.records.length - 1];
    const body = full.body || {};
    const keys = Object.keys(body).sort((a, b) => a.localeCompare(b));
    sections.replaceChildren(
      h(
        'h3',
        null,
        `every field (${keys.length})`,
        copyButton('copy JSON', () => JSON.stringify(body, null, 2)),
      ),
      fieldTable(
        keys.map((k) => [k, body[k]]),
        'fields body',
      ),
    );
  },

  /** Shows one scope: status, times, where it ran, its context, and its
   *  opening record's fields. */
  showScope(scope, extra = {}) {
    const title = scope.message ?? '(opening record not received)';
    open(h('span.msg', null, title));
    const elapsed =
      scope.status === 'running' && scope.started ? `${duration(now() - scope.started)} so far` : undefined;
    bodyEl.append(
      fieldTable([
        ['status', statusBadge(scope.status)],
        ['scope id', h('a', { href: taskHref(scope.id), 'data-link': true }, scope.id)],
        ['started', fullTime(scope.started)],
        ['ended', scope.ended ? fullTime(scope.ended) : undefined],
        ['duration', scope.duration !== null && scope.duration !== undefined ? duration(scope.duration) : elapsed],
        ['host', scope.host],
        ['process', scope.process],
        ['continued', scope.foreign ? 'in another process or host than its parent (import_task)' : undefined],
        ['records', extra.records],
        ['subtasks', extra.subtasks],
      ]),
    );
    if (scope.context && Object.keys(scope.context).length) {
      bodyEl.append(h('h3', null, 'context'), contextChips(scope.context, 100));
    }
    if (extra.opening) {
      bodyEl.append(h('h3', null, 'opening record'));
      const holder = h('div');
      bodyEl.append(holder);
      const gen = generation;
      const ref = extra.opening.id ?? extra.opening.key;
      api(`/api/records/${encodeURIComponent(ref)}`)
        .then((full) => {
          if (gen !== generation) return;
          if (full.records) full = full.records[full.records.length - 1];
          const body = full.body || {};
          const keys = Object.keys(body).sort((a, b) => a.localeCompare(b));
          holder.replaceChildren(fieldTable(keys.map((k) => [k, body[k]]), 'fields body'));
        })
        .catch((e) => {
          if (gen === generation) holder.replaceChildren(h('p.error', null, e.message));
        });
    }
  },

  close({ silent = false } = {}) {
    if (panel.hidden) return;
    generation += 1;
    panel.hidden = true;
    document.body.classList.remove('with-details');
    bodyEl.replaceChildren();
    if (!silent && this.onClose) this.onClose();
  },
};
