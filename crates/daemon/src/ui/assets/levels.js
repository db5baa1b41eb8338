// Log levels pushed to running programs (`distlog level`): the settings in
// force, a form to set one, a button to clear each.

import { api, every, h } from './util.js';

const FIELDS = ['logger', 'host', 'process', 'system', 'task'];

async function send(method, path, body) {
  const response = await fetch(path, {
    method,
    headers: { Accept: 'application/json', 'Content-Type': 'application/json' },
    body: body ? JSON.stringify(body) : undefined,
  });
  const answer = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(answer.error || `HTTP ${response.status}`);
  return answer;
}

export class LevelsView {
  constructor(root) {
    this.root = root;
    this.list = h('tbody');
    this.error = h('p.error', { role: 'alert', hidden: true });
    const inputs = {};
    for (const f of FIELDS) inputs[f] = h('input', { name: f, placeholder: f, size: f === 'task' ? 36 : 12 });
    this.inputs = inputs;
    this.level = h('select', { name: 'level' }, ...['DEBUG', 'INFO', 'WARNING', 'ERROR', 'CRITICAL'].map((l) => h('option', { value: l }, l)));
    this.duration = h('input', { name: 'for', placeholder: 'for (10m)', size: 8 });
    const form = h(
      'form.levels-form',
      null,
      ...FIELDS.map((f) => inputs[f]),
      this.level,
      this.duration,
      h('button', { type: 'submit' }, 'Set'),
    );
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      this.set();
    });
    root.append(
      h('section.levels', null,
        h('h1', null, 'Log levels'),
        h('p', null, 'Levels pushed to running programs; they apply within a second.'),
        form,
        this.error,
        h('table.levels-table', null,
          h('thead', null, h('tr', null, h('th', null, 'level'), ...FIELDS.map((f) => h('th', null, f)), h('th', null, 'expires'), h('th'))),
          this.list,
        ),
      ),
    );
    this.stop = every(2000, () => this.refresh());
  }

  unmount() {
    if (this.stop) this.stop();
  }

  showError(message) {
    this.error.textContent = message || '';
    this.error.hidden = !message;
  }

  async refresh() {
    const answer = await api('/api/levels');
    const rows = answer.levels.map((s) => {
      const clear = h('button.clear', { type: 'button' }, 'Clear');
      clear.addEventListener('click', () => this.clear(s));
      return h(
        'tr.level',
        null,
        h('td.c-level', null, s.level_name),
        ...FIELDS.map((f) => h(`td.c-${f}`, null, s[f] == null ? '' : String(s[f]))),
        h('td.c-expires', null, s.expires_in == null ? 'until cleared' : `${Math.round(s.expires_in)} s`),
        h('td', null, clear),
      );
    });
    if (!rows.length) rows.push(h('tr.none', null, h('td', { colspan: FIELDS.length + 3 }, 'No level settings.')));
    this.list.replaceChildren(...rows);
  }

  async set() {
    const body = { level: this.level.value };
    for (const f of FIELDS) {
      const v = this.inputs[f].value.trim();
      if (v) body[f] = f === 'process' ? Number(v) : v;
    }
    if (this.duration.value.trim()) body.for = this.duration.value.trim();
    try {
      await send('POST', '/api/levels', body);
      this.showError('');
    } catch (e) {
      this.showError(e.message);
    }
    await this.refresh();
  }

  async clear(s) {
    const q = new URLSearchParams();
    for (const f of FIELDS) if (s[f] != null) q.set(f, String(s[f]));
    try {
      await send('DELETE', `/api/levels?${q}`);
      this.showError('');
    } catch (e) {
      this.showError(e.message);
    }
    await this.refresh();
  }
}
