// The tree of one task: scopes as foldable branches, records as leaves.
//
// The whole tree comes from /api/tree/{id}; only the lines that are on
// screen have DOM nodes. Folding and unfolding rebuilds a flat array of the
// visible lines (cheap: one pass over what is unfolded) and the rows in
// view are drawn again, so a 50,000-record tree costs a few dozen DOM nodes.
// While the task changes, the tree is fetched again (throttled by how long
// a fetch takes) and what was folded, unfolded and selected is kept.

import { details } from './details.js';
import { FIRST_CHILDREN, FIRST_DEPTH, PAGE, PAGED_OVER, buildSkeleton, carryPages, loadScopePage, loadSubscopes, moreRow } from './paged.js';
import { Timeline } from './timeline.js';
import {
  ApiError,
  api,
  contextChips,
  debounce,
  duration,
  every,
  firstLine,
  fullTime,
  go,
  h,
  levelBadge,
  levelClass,
  now,
  statusBadge,
  STATUS,
  taskHref,
  timestamp,
} from './util.js';

const ROW_H = 24; // px; the height of `.trow` in app.css
const OVERSCAN = 12;
const POLL_MS = 1500;
const INDENT = 18; // px per level

let uid = 0;

/** One line of the tree: a scope or a record. */
class Line {
  constructor(kind, data, depth, parent) {
    this.uid = ++uid;
    this.kind = kind;
    this.data = data;
    this.depth = depth;
    this.parent = parent;
    this.children = null; // scopes: Line[]
    this.total = 0; // scopes: records in the branch, opening records included
    this.trouble = false; // scopes: a failed scope or an ERROR record below
    this.row = -1; // index among the visible lines, valid when gen matches
    this.gen = -1;
  }

  get ident() {
    if (this.kind === 'more') return `m:${this.data.id}`;
    if (this.kind === 'scopes') return `n:${this.data.id}`;
    return this.kind === 'scope' ? `s:${this.data.id}` : `r:${this.data.id}`;
  }
}

/** Builds the lines of an /api/tree answer (iteratively: trees can be deep). */
function build(tree) {
  const byIdent = new Map();
  const problems = [];
  const opening = new Map(); // scope id → its opening record
  const { entries, ...rootData } = tree.scope;
  const root = new Line('scope', rootData, 0, null);
  const stack = [[root, entries]];
  const scopes = [root];
  while (stack.length) {
    const [line, list] = stack.pop();
    line.children = [];
    byIdent.set(line.ident, line);
    for (const e of list) {
      if (e.type === 'scope') {
        const { entries: sub, ...data } = e;
        const child = new Line('scope', data, line.depth + 1, line);
        line.children.push(child);
        scopes.push(child);
        stack.push([child, sub]);
      } else {
        const { type, ...data } = e;
        if (data.seq === 0) {
          // The opening record is the scope's own line.
          opening.set(line.data.id, data);
          continue;
        }
        const rec = new Line('record', data, line.depth + 1, line);
        line.children.push(rec);
        byIdent.set(rec.ident, rec);
      }
    }
  }
  // Totals and trouble, deepest scopes first (children come after parents).
  for (let i = scopes.length - 1; i >= 0; i--) {
    const s = scopes[i];
    let total = opening.has(s.data.id) ? 1 : 0;
    let trouble = s.data.status === 'failed';
    for (const c of s.children) {
      if (c.kind === 'scope') {
        total += c.total;
        trouble = trouble || c.trouble;
      } else {
        total += 1;
        if (c.data.levelno >= 40 || c.data.event === 'fail') trouble = true;
      }
    }
    s.total = total;
    s.trouble = trouble;
  }
  // Problems in tree order, for n / N.
  const walk = [root];
  while (walk.length) {
    const l = walk.pop();
    if (l.kind === 'record') {
      if (l.data.levelno >= 40 || l.data.event === 'fail') problems.push(l);
    } else {
      for (let i = l.children.length - 1; i >= 0; i--) walk.push(l.children[i]);
    }
  }
  return { root, byIdent, problems, opening, scopes: scopes.length };
}

export { Line };

export class TreeView {
  constructor(el, id) {
    this.el = el;
    this.id = id;
    // A root id has neither `@` nor `/`: strip a key's `seq@` and a scope's path.
    this.rootId = id.replace(/^\d+@/, '').split('/')[0];
    this.model = null;
    this.rows = [];
    this.gen = 0;
    this.mode = 'default'; // 'default' | 'expanded' | 'collapsed'
    this.overrides = new Map(); // scope id → open?, as the user folded it
    this.defaults = new Map(); // scope id → {open, trouble}, when first seen
    this.selected = null; // ident
    this.detailsIdent = null;
    this.signature = null;
    this.lastFetchMs = 0;
    this.lastFetchAt = 0;
    this.fetching = false;
    this.matches = [];
    this.matchAt = -1;
    this.focusDone = false;
    // Taken now: showing details rewrites the URL without them.
    this.query = new URLSearchParams(location.search);
    this.build();
    this.stopPoll = every(POLL_MS, () => this.poll());
    this.ticker = setInterval(() => this.tick(), 1000);
    this.onResize = () => {
      this.paint();
      this.timeline.paint();
    };
    window.addEventListener('resize', this.onResize);
    this.listen();
  }

  /** Live trees: records of this task on the feed (server-sent events)
   *  bring the tree and timeline up to date at once; the poll stays for
   *  what the feed cannot say (a process going silent). */
  listen() {
    if (typeof EventSource === 'undefined') return;
    this.source = new EventSource('/api/feed');
    this.source.onmessage = (e) => {
      // Most of the feed is other tasks: a substring test before parsing.
      if (!this.model || !e.data.includes(this.rootId)) return;
      let row;
      try {
        row = JSON.parse(e.data);
      } catch {
        return;
      }
      if (row.root === this.rootId || (row.key && row.key.includes(`@${this.rootId}`))) this.soon();
    };
  }

  /** A refresh soon, no more often than every 3× the last fetch's time. */
  soon() {
    if (this.soonTimer) return;
    const since = performance.now() - this.lastFetchAt;
    const wait = Math.max(100, 3 * this.lastFetchMs - since);
    this.soonTimer = setTimeout(async () => {
      this.soonTimer = null;
      const t = await this.fetchTask();
      await this.fetchTree(t);
      document.body.dataset.liveUpdates = String(Number(document.body.dataset.liveUpdates || 0) + 1);
    }, wait);
  }

  unmount() {
    if (this.source) this.source.close();
    clearTimeout(this.soonTimer);
    this.timeline.unmount();
    this.stopPoll();
    clearInterval(this.ticker);
    window.removeEventListener('resize', this.onResize);
  }

  // -- layout -------------------------------------------------------------

  build() {
    this.headEl = h('div.tree-head');
    this.findIn = h('input', {
      type: 'search',
      placeholder: 'find in tree',
      'aria-label': 'find in this tree',
      oninput: debounce(() => this.find(), 200),
      onkeydown: (e) => {
        if (e.key === 'Enter') {
          e.preventDefault();
          this.nextMatch(e.shiftKey ? -1 : 1);
        }
      },
    });
    this.findCount = h('span.count.dim');
    this.problemBtn = h(
      'button',
      { type: 'button', title: 'next error or failure (n)', onclick: () => this.nextProblem(1), hidden: true },
      'next error',
    );
    this.toolbar = h(
      'div.toolbar.tree-tools',
      null,
      h('button', { type: 'button', title: 'expand all (e)', onclick: () => this.expandAll(), 'data-action': 'expand-all' }, 'expand all'),
      h(
        'button',
        { type: 'button', title: 'collapse all (c)', onclick: () => this.collapseAll(), 'data-action': 'collapse-all' },
        'collapse all',
      ),
      this.problemBtn,
      h('button', { type: 'button', title: 'tree or timeline (t)', onclick: () => this.toggleTimeline(), 'data-action': 'timeline' }, 'timeline'),
      h('span.find', null, this.findIn, this.findCount),
    );
    this.canvas = h('div.tree-canvas', { role: 'tree', 'aria-label': 'task tree' });
    this.scroller = h('div.tree-scroll', { tabindex: '0' }, this.canvas);
    this.scroller.addEventListener('scroll', () => this.paint(), { passive: true });
    this.canvas.addEventListener('click', (e) => this.onClick(e));
    this.messageEl = h('div.empty', { hidden: true });
    const view = h('section.tree-view', null, this.headEl, this.toolbar, this.messageEl, this.scroller);
    this.el.append(view);
    this.timeline = new Timeline(view, { onOpen: (id) => this.openFromTimeline(id) });
    this.headEl.append(h('a.back', { href: '/' }, '← tasks'), h('span.dim', null, ' loading…'));
  }

  renderHead() {
    const s = this.model.root.data;
    const t = this.task;
    const started = s.started ?? t?.started;
    const meta = [
      statusBadge(s.status),
      h('span.meta', { title: fullTime(started) }, `started ${timestamp(started)}`),
      h('span.meta.elapsed', { dataset: { started: started ?? '' } }, this.timeText(s)),
      s.host ? h('span.meta', null, `${s.host}${s.process ? ` · pid ${s.process}` : ''}`) : null,
      h('span.meta', null, `${(this.total ?? 0).toLocaleString('en')} records`),
      t && t.failures ? h('span.meta.fail-count', null, `${t.failures} failed`) : null,
    ];
    this.headEl.replaceChildren(
      h('a.back', { href: '/', title: 'the task list (u)' }, '← tasks'),
      h(
        'h1',
        null,
        h('span.msg', null, s.message ?? '(opening record not received)'),
        contextChips(s.context),
      ),
      h('div.meta-line', null, meta, h('span.meta.root-id.dim', { title: 'root id' }, this.rootId)),
    );
  }

  timeText(s) {
    if (s.status === 'running' && s.started) return `${duration(now() - s.started)} so far`;
    if (s.duration !== null && s.duration !== undefined) return duration(s.duration);
    return '';
  }

  // -- data ---------------------------------------------------------------

  /** Every POLL_MS: asks for the task's row (cheap) and fetches the tree
   *  again only when it changed, at most every 3× the last fetch time. */
  async poll() {
    if (!this.model) {
      performance.mark('distlog:task-fetch');
      // The first paint does not wait for the task's row to choose between
      // whole and paged: the skeleton (quick and small at any size) is
      // asked for beside it, and used if the task turns out big.
      const early =
        this.query.get('paged') === '0'
          ? null
          : api(this.firstSkeletonUrl()).catch((e) => e);
      const t = await this.fetchTask();
      performance.mark('distlog:task-fetched');
      await this.fetchTree(t, early);
      return;
    }
    const t = await this.fetchTask();
    if (!t) return;
    const stale = signatureOf(t) !== this.signature;
    // A scope can turn unfinished with no new record: look again now and then.
    const since = performance.now() - this.lastFetchAt;
    const runningLong = t.status === 'running' && since > 15000;
    if ((stale || runningLong) && since >= 3 * this.lastFetchMs) await this.fetchTree(t);
    else this.renderHead();
  }

  /** The first paint's skeleton: the top levels and a screenful of each
   *  level's scopes, however many scopes the task has (`?children=N` in the
   *  page's URL: another number, tests use small ones). A URL that names a
   *  scope or key gets the whole skeleton, which has the path to it. */
  firstSkeletonUrl() {
    const whole = `/api/skeleton/${encodeURIComponent(this.rootId)}`;
    if (this.id !== this.rootId) return whole;
    const children = String(Number(this.query.get('children')) || FIRST_CHILDREN);
    return `${whole}?${new URLSearchParams({ depth: String(FIRST_DEPTH), children })}`;
  }

  /** A cut skeleton (the first paint's) is fetched whole before what needs
   *  every scope: the timeline, next error, find. */
  async ensureWhole() {
    if (this.model && this.model.cut && !this.fetching) await this.fetchTree(this.task);
  }

  /** Paged: reads the subscopes `line` was cut from and draws them. */
  async loadSubscopes(line) {
    if (line.loadingScopes || line.scopesError || !line.moreScopes) return;
    line.loadingScopes = true;
    const model = this.model;
    const t0 = performance.now();
    try {
      await loadSubscopes(model, line);
    } catch (e) {
      if (!(e instanceof ApiError)) throw e;
      line.scopesError = e.message;
    } finally {
      line.loadingScopes = false;
    }
    // A skeleton fetched whole meanwhile has this scope's lines already.
    if (model !== this.model) return;
    this.settleDefaults();
    this.flatten();
    this.paint();
    requestAnimationFrame(() =>
      setTimeout(() => {
        performance.measure('distlog:unfold-scopes', { start: t0, duration: performance.now() - t0 });
        document.body.dataset.subscopesLoaded = String(Number(document.body.dataset.subscopesLoaded || 0) + 1);
      }, 0),
    );
  }

  /** The task's row, or null while the daemon has none. */
  async fetchTask() {
    try {
      this.task = await api(`/api/tasks/${encodeURIComponent(this.rootId)}`);
    } catch (e) {
      if (e instanceof ApiError && (e.status === 404 || e.status === 400)) return null;
      throw e;
    }
    return this.task;
  }

  /** Fetches and shows the tree. `t` is the task's row fetched just
   *  before, so the tree is at least as new as the row it is compared to. */
  async fetchTree(t, early = null) {
    if (this.fetching) return;
    this.fetching = true;
    const t0 = performance.now();
    if (!this.model) performance.mark('distlog:tree-fetch');
    let tree;
    // A big task comes in parts: its scopes first, a scope's records when
    // it is unfolded (paged.js). A small one is fetched whole, which keeps
    // find-in-tree over every record.
    if (this.paged === undefined) {
      // `?paged=1` (or `0`) overrides the choice by size.
      const asked = this.query.get('paged');
      this.paged = asked ? asked === '1' : !!(t && t.records > PAGED_OVER);
    }
    try {
      if (this.paged && early) {
        tree = await early;
        if (tree instanceof Error) throw tree;
      } else if (this.paged) tree = await api(this.model ? `/api/skeleton/${encodeURIComponent(this.rootId)}` : this.firstSkeletonUrl());
      else tree = await api(`/api/tree/${encodeURIComponent(this.model ? this.rootId : this.id)}`);
    } catch (e) {
      if (e instanceof ApiError && (e.status === 404 || e.status === 400)) {
        this.messageEl.hidden = false;
        this.messageEl.replaceChildren(
          h('p', null, e.status === 404 ? `No records of task ${this.id} yet; waiting for them…` : e.message),
        );
        return;
      }
      throw e;
    } finally {
      this.fetching = false;
    }
    this.messageEl.hidden = true;
    this.lastFetchMs = performance.now() - t0;
    this.lastFetchAt = performance.now();
    const first = !this.model;
    if (first) performance.mark('distlog:tree-fetched');
    this.rootId = tree.root;
    this.total = tree.records;
    const old = this.model;
    this.model = this.paged ? buildSkeleton(tree) : build(tree);
    if (this.paged) this.model.pageSize = Number(this.query.get('page')) || PAGE;
    if (this.paged && old) carryPages(old, this.model);
    this.settleDefaults();
    this.signature = t ? signatureOf(t) : null;
    // A skeleton asked for beside the row may be older than the row: if
    // they disagree, the next poll fetches again.
    if (early && this.paged && t && tree.records !== t.records) this.signature = null;
    const r = this.model.root.data;
    if (this.selected && !this.model.byIdent.has(this.selected)) this.selected = null;
    // A cut skeleton knows its failures by count only, until fetched whole.
    this.problemBtn.hidden = this.model.cut ? !this.model.root.trouble : this.model.problems.length === 0;
    this.problemBtn.textContent = this.model.cut ? 'next error' : `next error (${this.model.problems.length})`;
    if (first) {
      document.title = `${r.message ?? this.rootId} · distlog`;
      if (this.paged) await this.focusPaged();
      else this.focusFrom(tree);
    }
    this.flatten();
    this.renderHead();
    if (this.findIn.value) this.find({ keep: true });
    if (first) {
      this.revealSelected('center');
      this.markPainted();
    }
    this.paint();
    if (this.timeline) this.timeline.setModel(this.model);
    // A scope whose details are open gets its new status and times.
    if (!first && this.detailsIdent && details.isOpen()) {
      const l = this.model.byIdent.get(this.detailsIdent);
      if (l && l.kind === 'scope') this.showDetails(l, { keepUrl: true });
    }
  }

  /** The URL named a scope or a record: open the path to it, select it. */
  focusFrom(tree) {
    let line = null;
    if (tree.focus_key) {
      const [seq, scope] = [Number(tree.focus_key.split('@')[0]), tree.focus_key.slice(tree.focus_key.indexOf('@') + 1)];
      const s = this.model.byIdent.get(`s:${scope}`);
      if (s && seq === 0) line = s;
      else if (s) line = s.children.find((c) => c.kind === 'record' && c.data.key === tree.focus_key) || s;
    } else if (tree.focus && tree.focus !== tree.root) {
      line = this.model.byIdent.get(`s:${tree.focus}`) || null;
    }
    if (!line) {
      this.selected = this.model.root.ident;
      return;
    }
    this.openPathTo(line);
    this.selected = line.ident;
    if (tree.focus_key || line !== this.model.root) this.showDetails(line, { keepUrl: true });
  }

  /** Paged: the URL named a scope or a key; open the path to it, with the
   *  key's page of records. */
  async focusPaged() {
    const id = this.id;
    let line = null;
    if (/^\d+@/.test(id)) {
      try {
        const p = await api(`/api/path/${encodeURIComponent(id)}`);
        const s = this.model.byIdent.get(`s:${p.scopes[p.scopes.length - 1]}`);
        if (s) {
          await this.loadScope(s, { after: p.cursor, fresh: true });
          line = s.children.find((c) => c.kind === 'record' && c.data.key === p.key) || s;
        }
      } catch (e) {
        if (!(e instanceof ApiError)) throw e;
      }
    } else if (id !== this.rootId) {
      line = this.model.byIdent.get(`s:${id}`) || null;
    }
    if (!line) {
      this.selected = this.model.root.ident;
      return;
    }
    this.openPathTo(line);
    if (line.kind === 'scope') this.overrides.set(line.data.id, true);
    this.selected = line.ident;
    this.showDetails(line, { keepUrl: true });
  }

  /** Paged: fetches a page of `line`'s records (the next one with `more`)
   *  and draws them in place. */
  async loadScope(line, { more = false, after = null, fresh = false } = {}) {
    if (line.loading || (line.loaded && !more && !fresh)) return;
    line.loading = true;
    const t0 = performance.now();
    try {
      await loadScopePage(this.model, line, more ? line.next : after, fresh || !more);
    } catch (e) {
      if (!(e instanceof ApiError)) throw e;
      line.loadError = e.message;
    } finally {
      line.loading = false;
    }
    this.flatten();
    this.paint();
    requestAnimationFrame(() =>
      setTimeout(() => {
        const ms = performance.now() - t0;
        performance.measure('distlog:unfold', { start: t0, duration: ms });
        document.body.dataset.unfoldMs = ms.toFixed(1);
        document.body.dataset.unfolded = String(Number(document.body.dataset.unfolded || 0) + 1);
      }, 0),
    );
  }

  /** For the benchmark: marks the first paint of the tree. */
  markPainted() {
    requestAnimationFrame(() =>
      setTimeout(() => {
        performance.mark('distlog:tree-painted');
        document.body.dataset.treePainted = 'true';
      }, 0),
    );
  }

  // -- timeline -----------------------------------------------------------

  toggleTimeline(on = !this.timeline.shown) {
    if (on && this.model && this.model.cut) {
      this.ensureWhole().then(() => {
        if (!this.model.cut) this.toggleTimeline(on);
      });
      return;
    }
    this.timeline.show(on);
    this.scroller.hidden = on;
    const btn = this.toolbar.querySelector('[data-action="timeline"]');
    btn.textContent = on ? 'tree' : 'timeline';
    if (!on) this.paint();
  }

  /** A bar was clicked: the tree, with that scope unfolded and selected. */
  openFromTimeline(id) {
    const line = this.model && this.model.byIdent.get(`s:${id}`);
    if (!line) return;
    this.toggleTimeline(false);
    this.openPathTo(line);
    this.overrides.set(line.data.id, true);
    this.selected = line.ident;
    this.flatten();
    this.revealSelected('center');
    this.paint();
  }

  // -- folding ------------------------------------------------------------

  isOpen(line) {
    const o = this.overrides.get(line.data.id);
    if (o !== undefined) return o;
    if (line === this.model.root) return true;
    if (this.mode === 'expanded') return true;
    if (this.mode === 'collapsed') return false;
    const d = this.defaults.get(line.data.id);
    return d ? d.open : defaultOpen(line);
  }

  /** A scope's default is taken when the page first sees it, so a branch
   *  being watched does not fold under the reader when it succeeds; a
   *  failure that turns up later below it opens it. */
  settleDefaults() {
    for (const l of this.model.byIdent.values()) {
      if (l.kind !== 'scope') continue;
      const d = this.defaults.get(l.data.id);
      if (!d) this.defaults.set(l.data.id, { open: defaultOpen(l), trouble: l.trouble });
      else if (l.trouble && !d.trouble) this.defaults.set(l.data.id, { open: true, trouble: true });
    }
  }

  setOpen(line, open) {
    if (line.kind !== 'scope' || this.isOpen(line) === open) return;
    this.overrides.set(line.data.id, open);
    // Paged: the records are asked for now, not when the next frame
    // draws the open scope (a frame's wait before the request).
    if (open && this.paged && !line.loaded && !line.loadError && line.data.records > 0) this.loadScope(line);
    if (open && this.paged && line.moreScopes && !line.subs.length) this.loadSubscopes(line);
    this.flatten();
    this.paint();
  }

  openPathTo(line) {
    for (let p = line.parent; p; p = p.parent) if (!this.isOpen(p)) this.overrides.set(p.data.id, true);
  }

  expandAll() {
    const t0 = performance.now();
    this.mode = 'expanded';
    this.overrides.clear();
    this.flatten();
    this.revealSelected('center');
    this.paint();
    this.markExpanded(t0);
  }

  collapseAll() {
    this.mode = 'collapsed';
    this.overrides.clear();
    const sel = this.model && this.model.byIdent.get(this.selected);
    if (sel && sel.parent && sel.parent !== this.model.root) {
      let top = sel;
      while (top.parent && top.parent !== this.model.root) top = top.parent;
      this.selected = top.ident;
    }
    this.flatten();
    this.revealSelected('center');
    this.paint();
  }

  /** For the benchmark: how long expand-all took to the next paint. */
  markExpanded(t0) {
    requestAnimationFrame(() =>
      setTimeout(() => {
        const ms = performance.now() - t0;
        performance.measure('distlog:expand-all', { start: t0, duration: ms });
        document.body.dataset.expandAllMs = ms.toFixed(1);
      }, 0),
    );
  }

  /** The visible lines, in order. */
  flatten() {
    if (!this.model) return;
    this.gen += 1;
    const gen = this.gen;
    const rows = [];
    const stack = [this.model.root];
    while (stack.length) {
      const l = stack.pop();
      l.row = rows.length;
      l.gen = gen;
      rows.push(l);
      if (l.kind === 'scope' && this.isOpen(l)) {
        const c = l.children;
        for (let i = c.length - 1; i >= 0; i--) stack.push(c[i]);
      }
    }
    this.rows = rows;
    this.canvas.style.height = `${rows.length * ROW_H}px`;
    this.canvas.setAttribute('aria-rowcount', String(rows.length));
  }

  visibleRow(line) {
    return line && line.gen === this.gen ? line.row : -1;
  }

  // -- drawing ------------------------------------------------------------

  paint() {
    if (this.painting) return;
    this.painting = true;
    requestAnimationFrame(() => {
      this.painting = false;
      this.draw();
    });
  }

  draw() {
    if (!this.model) return;
    const top = this.scroller.scrollTop;
    const height = this.scroller.clientHeight || 600;
    const first = Math.max(0, Math.floor(top / ROW_H) - OVERSCAN);
    const last = Math.min(this.rows.length, Math.ceil((top + height) / ROW_H) + OVERSCAN);
    const nodes = [];
    const matchSet = this.matchSet;
    for (let i = first; i < last; i++) nodes.push(this.drawRow(this.rows[i], i, matchSet));
    this.canvas.replaceChildren(...nodes);
    if (this.paged) {
      // Open scopes on screen get their records; a "more" line on screen
      // fetches the next page.
      for (let i = first; i < last; i++) {
        const l = this.rows[i];
        if (l.kind === 'scope' && !l.loaded && !l.loadError && this.isOpen(l) && l.data.records > 0) this.loadScope(l);
        else if (l.kind === 'more' && !l.parent.loading) this.loadScope(l.parent, { more: true });
        if (l.kind === 'scope' && l.moreScopes && !l.subs.length && this.isOpen(l)) this.loadSubscopes(l);
        else if (l.kind === 'scopes') this.loadSubscopes(l.parent);
      }
    }
    const sel = this.model.byIdent.get(this.selected);
    if (sel && this.visibleRow(sel) >= first && this.visibleRow(sel) < last) {
      this.scroller.setAttribute('aria-activedescendant', `line-${sel.uid}`);
    } else {
      this.scroller.removeAttribute('aria-activedescendant');
    }
  }

  drawRow(l, i, matchSet) {
    const d = l.data;
    const cls = ['trow', l.kind];
    if (l.ident === this.selected) cls.push('selected');
    if (matchSet && matchSet.has(l)) cls.push('match');
    const attrs = {
      id: `line-${l.uid}`,
      role: 'treeitem',
      'aria-level': String(l.depth + 1),
      'aria-selected': l.ident === this.selected ? 'true' : 'false',
      dataset: { row: String(i), ident: l.ident, kind: l.kind },
    };
    let row;
    if (l.kind === 'more' || l.kind === 'scopes') {
      row = moreRow(l, attrs);
    } else if (l.kind === 'scope') {
      const open = this.isOpen(l);
      cls.push(`st-${d.status}`);
      if (d.foreign) cls.push('foreign');
      attrs['aria-expanded'] = open ? 'true' : 'false';
      attrs.dataset.scope = d.id;
      attrs.dataset.status = d.status;
      const st = STATUS[d.status] || { mark: '·', label: d.status };
      row = h(
        'div',
        attrs,
        h('span.twisty', { 'aria-hidden': 'true' }, open ? '▾' : '▸'),
        h(`span.smark.st-${d.status}`, { title: st.label }, st.mark),
        h(d.message === null ? 'span.msg.placeholder' : 'span.msg', null, d.message ?? '(opening record not received)'),
        contextChips(d.context, 3),
        d.foreign
          ? h(
              'span.foreign-mark',
              { title: `continued in another process: ${d.host} pid ${d.process}` },
              `⇄ ${d.host ?? '?'}:${d.process ?? '?'}`,
            )
          : null,
        h('span.fill'),
        h('span.count.dim', { title: `${l.total} records in this branch` }, l.total.toLocaleString('en')),
        h(
          `span.dur${d.status === 'running' ? '.live' : ''}`,
          { dataset: d.status === 'running' && d.started ? { started: d.started } : {} },
          this.timeText(d),
        ),
        h('button.info', { type: 'button', title: 'scope details (Enter)', 'aria-label': 'scope details', tabindex: '-1' }, 'i'),
      );
    } else {
      cls.push(levelClass(d.levelno));
      if (d.event) cls.push(`ev-${d.event}`);
      attrs.dataset.key = d.key ?? '';
      const start = this.model.root.data.started;
      const offset = start !== null && start !== undefined ? `+${duration(d.created - start)}` : timestamp(d.created, { millis: true });
      row = h(
        'div',
        attrs,
        h('span.twisty.leaf', { 'aria-hidden': 'true' }),
        levelBadge(d),
        d.event === 'close' ? h('span.emark.ok', { title: 'closing record' }, '✓') : null,
        d.event === 'fail' ? h('span.emark.bad', { title: 'failure record' }, '✗') : null,
        h('span.msg', null, firstLine(d.message)),
        d.exc_text ? h('span.exc', { title: firstLine(d.exc_text.trim().split('\n').pop()) }, lastLine(d.exc_text)) : null,
        h('span.logger.dim', null, d.logger),
        h('span.fill'),
        d.event && d.duration !== null && d.duration !== undefined ? h('span.dur', null, duration(d.duration)) : null,
        h('span.time.dim', { title: fullTime(d.created) }, offset),
        h('span.gap'),
      );
    }
    row.className = cls.join(' ');
    row.style.transform = `translateY(${i * ROW_H}px)`;
    row.style.paddingLeft = `${4 + l.depth * INDENT}px`;
    return row;
  }

  /** Once a second: running scopes' elapsed times. */
  tick() {
    if (!this.model) return;
    for (const el of this.el.querySelectorAll('[data-started].live, .elapsed[data-started]')) {
      const started = Number(el.dataset.started);
      if (started && (el.classList.contains('live') || this.model.root.data.status === 'running')) {
        el.textContent = `${duration(now() - started)} so far`;
      }
    }
  }

  // -- selection and keys -------------------------------------------------

  select(line, { reveal = 'nearest' } = {}) {
    if (!line) return;
    this.selected = line.ident;
    if (reveal) this.revealSelected(reveal);
    this.paint();
    if (details.isOpen() && this.detailsIdent !== line.ident) this.showDetails(line);
  }

  revealSelected(how) {
    const line = this.model && this.model.byIdent.get(this.selected);
    const i = this.visibleRow(line);
    if (i < 0) return;
    const view = this.scroller.clientHeight || 600;
    const y = i * ROW_H;
    if (how === 'center') {
      if (y < this.scroller.scrollTop || y + ROW_H > this.scroller.scrollTop + view) {
        this.scroller.scrollTop = Math.max(0, y - view / 2);
      }
    } else if (y < this.scroller.scrollTop) {
      this.scroller.scrollTop = y;
    } else if (y + ROW_H > this.scroller.scrollTop + view) {
      this.scroller.scrollTop = y + ROW_H - view;
    }
  }

  showDetails(line, { keepUrl = false } = {}) {
    this.detailsIdent = line.ident;
    if (line.kind === 'record') {
      details.showRecord(line.data);
      if (!keepUrl && line.data.key) history.replaceState(null, '', taskHref(line.data.key));
    } else {
      const own = line.children.filter((c) => c.kind === 'record').length + (this.model.opening.has(line.data.id) ? 1 : 0);
      const subs = line.children.filter((c) => c.kind === 'scope').length;
      details.showScope(line.data, {
        records: line.data.records ?? own,
        subtasks: subs,
        opening: this.model.opening.get(line.data.id),
      });
      if (!keepUrl) history.replaceState(null, '', taskHref(line.data.id));
    }
  }

  detailsClosed() {
    this.detailsIdent = null;
    if (this.rootId) history.replaceState(null, '', taskHref(this.rootId));
    this.scroller.focus({ preventScroll: true });
  }

  onClick(e) {
    const rowEl = e.target.closest('.trow');
    if (!rowEl) return;
    const line = this.model.byIdent.get(rowEl.dataset.ident);
    if (!line) return;
    this.scroller.focus({ preventScroll: true });
    if (line.kind === 'more') {
      this.loadScope(line.parent, { more: true });
      return;
    }
    if (line.kind === 'scopes') {
      this.loadSubscopes(line.parent);
      return;
    }
    if (line.kind === 'record') {
      this.select(line, { reveal: false });
      this.showDetails(line);
      return;
    }
    if (e.target.closest('.info')) {
      this.select(line, { reveal: false });
      this.showDetails(line);
      return;
    }
    this.selected = line.ident;
    this.setOpen(line, !this.isOpen(line));
    this.paint();
  }

  focusFilter() {
    this.findIn.focus();
    this.findIn.select();
  }

  onKey(e) {
    if (!this.model) return false;
    const rows = this.rows;
    const cur = this.model.byIdent.get(this.selected);
    let i = this.visibleRow(cur);
    if (i < 0) i = 0;
    const line = rows[i];
    const page = Math.max(1, Math.floor((this.scroller.clientHeight || 600) / ROW_H) - 1);
    switch (e.key) {
      case 'ArrowDown':
      case 'j':
        this.select(rows[Math.min(rows.length - 1, i + 1)]);
        return true;
      case 'ArrowUp':
      case 'k':
        this.select(rows[Math.max(0, i - 1)]);
        return true;
      case 'PageDown':
        this.select(rows[Math.min(rows.length - 1, i + page)]);
        return true;
      case 'PageUp':
        this.select(rows[Math.max(0, i - page)]);
        return true;
      case 'Home':
        this.select(rows[0]);
        return true;
      case 'End':
        this.select(rows[rows.length - 1]);
        return true;
      case 'ArrowRight':
      case 'l':
        if (line.kind === 'scope' && !this.isOpen(line)) this.setOpen(line, true);
        else if (line.kind === 'scope' && line.children.length) this.select(rows[i + 1]);
        return true;
      case 'ArrowLeft':
      case 'h':
        if (line.kind === 'scope' && this.isOpen(line) && line !== this.model.root) this.setOpen(line, false);
        else if (line.parent) this.select(line.parent);
        return true;
      case ' ':
        if (line.kind === 'scope') this.setOpen(line, !this.isOpen(line));
        return true;
      case 'Enter':
        this.showDetails(line);
        return true;
      case 't':
        this.toggleTimeline();
        return true;
      case 'e':
        this.expandAll();
        return true;
      case 'c':
        this.collapseAll();
        return true;
      case 'n':
      case 'N': {
        const dir = e.key === 'n' ? 1 : -1;
        if (this.findIn.value && this.matches.length) this.nextMatch(dir);
        else this.nextProblem(dir);
        return true;
      }
      case 'u':
      case 'Backspace':
        go('/');
        return true;
      default:
        return false;
    }
  }

  /** Moves to the next (or previous) line of `list` after the selection,
   *  in tree order, opening the path to it. */
  jumpTo(list, dir) {
    if (!list.length) return -1;
    const order = this.treeOrder();
    const cur = this.model.byIdent.get(this.selected);
    const at = cur ? order.get(cur) : -1;
    let best = -1;
    if (dir > 0) best = list.findIndex((l) => order.get(l) > at);
    else for (let k = list.length - 1; k >= 0; k--) if (order.get(list[k]) < at) { best = k; break; }
    if (best < 0) best = dir > 0 ? 0 : list.length - 1;
    const target = list[best];
    this.openPathTo(target);
    this.flatten();
    this.select(target, { reveal: 'center' });
    return best;
  }

  /** Position of every line in the fully unfolded tree (cached per model). */
  treeOrder() {
    if (this.model.order) return this.model.order;
    const order = new Map();
    const stack = [this.model.root];
    while (stack.length) {
      const l = stack.pop();
      order.set(l, order.size);
      if (l.kind === 'scope') for (let i = l.children.length - 1; i >= 0; i--) stack.push(l.children[i]);
    }
    this.model.order = order;
    return order;
  }

  nextProblem(dir) {
    if (this.model.cut) {
      this.ensureWhole().then(() => {
        if (!this.model.cut) this.nextProblem(dir);
      });
      return;
    }
    this.jumpTo(this.model.problems, dir);
  }

  // -- find ---------------------------------------------------------------

  find({ keep = false } = {}) {
    const text = this.findIn.value.trim().toLowerCase();
    if (text && this.model && this.model.cut) {
      this.ensureWhole().then(() => {
        if (!this.model.cut) this.find({ keep });
      });
      return;
    }
    this.matches = [];
    this.matchSet = null;
    if (text && this.model) {
      const order = this.treeOrder();
      for (const l of order.keys()) {
        const d = l.data;
        const hay = l.kind === 'scope' ? `${d.message ?? ''} ${d.id}` : `${d.message} ${d.logger} ${d.key ?? ''}`;
        if (hay.toLowerCase().includes(text)) this.matches.push(l);
        else if (d.context && JSON.stringify(d.context).toLowerCase().includes(text)) this.matches.push(l);
      }
      this.matchSet = new Set(this.matches);
    }
    this.findCount.textContent = text ? `${this.matches.length} found` : '';
    if (!keep) {
      this.matchAt = -1;
      if (this.matches.length) this.nextMatch(1);
    }
    this.paint();
  }

  nextMatch(dir) {
    if (!this.matches.length) return;
    this.matchAt = this.jumpTo(this.matches, dir);
    this.findCount.textContent = `${this.matchAt + 1} of ${this.matches.length}`;
  }
}

/** Succeeded branches fold; the path to a failure, and anything still
 *  running or unfinished, is open. */
function defaultOpen(line) {
  return line.data.status !== 'succeeded' || line.trouble;
}

function signatureOf(t) {
  return `${t.records}|${t.status}|${t.failures}|${t.ended}`;
}

function lastLine(text) {
  const lines = String(text).trim().split('\n');
  return lines[lines.length - 1];
}
