// Big trees in parts (docs/http-api.md, "Paged trees"): the skeleton of
// scopes from /api/skeleton/{root} paints at once, whatever the number of
// records; a scope's records come from /api/scope/{id} when it is unfolded,
// a page at a time, and sit among its subscopes by time as in the whole tree.

import { Line } from './tree.js';
import { api, h } from './util.js';

/** Tasks with more records than this are shown paged. */
export const PAGED_OVER = 20000;
/** Records per page: a 10,000-record scope unfolds in one request. */
export const PAGE = 10000;

/** Scopes per level the first paint asks for: a screenful and some. The
 *  rest of a big task's scopes come when a scope is unfolded, or whole when
 *  something needs all of them (the timeline, next error, find). */
export const FIRST_CHILDREN = 40;
/** Levels below the root the first paint asks for. */
export const FIRST_DEPTH = 2;

/** The lines of scopes `kids` (skeleton answers) below `parent`, added to
 *  the model; returns them in the skeleton's order. */
function addScopes(model, parent, kids, scopes) {
  const out = [];
  const queue = [];
  for (const c of kids) queue.push([parent, c, out]);
  // Iteratively (trees can be deep), breadth first: children come after
  // their parents, and each list fills in the skeleton's order.
  for (let at = 0; at < queue.length; at++) {
    const [up, c, into] = queue[at];
    const sub = c.children;
    // The answer's object is the line's data, less its children (a copy
    // of each of 10,000 scopes' fields was a tenth of the model's build).
    c.children = undefined;
    const line = new Line('scope', c, up.depth + 1, up);
    into.push(line);
    initScope(model, line, scopes);
    for (const k of sub) queue.push([line, k, line.subs]);
  }
  for (const l of scopes) if (!l.loaded && l.parent) setLines(l);
  return out;
}

function initScope(model, line, scopes) {
  scopes.push(line);
  model.byIdent.set(line.ident, line);
  line.subs = [];
  line.loaded = false;
  line.recs = [];
  line.next = null;
  line.total = line.data.total_records;
  line.moreScopes = line.data.more_scopes || 0;
}

/** A scope's trouble: its own, or a failure counted in its branch (the
 *  branch may be cut), or a subscope's. */
function settleTrouble(scopes) {
  for (let i = scopes.length - 1; i >= 0; i--) {
    const s = scopes[i];
    s.trouble = s.data.status === 'failed' || s.data.errors > 0 || s.data.failures > 0 || s.subs.some((c) => c.trouble);
  }
}

/** The model of a tree view from a skeleton: scope lines only, each with
 *  its subscopes in `subs`; records come later. A skeleton cut by depth or
 *  children (`more_scopes`) makes a model with `cut` set. */
export function buildSkeleton(skel) {
  const opening = new Map();
  const { children: kids, ...rootData } = skel.scope;
  const root = new Line('scope', rootData, 0, null);
  const model = { root, byIdent: new Map(), opening, paged: true, cut: false };
  const scopes = [];
  initScope(model, root, scopes);
  root.subs = addScopes(model, root, kids, scopes);
  setLines(root);
  settleTrouble(scopes);
  model.cut = scopes.some((l) => l.moreScopes > 0);
  // In paged mode the problems to jump to are the scopes themselves.
  const order = [];
  const walk = [root];
  while (walk.length) {
    const l = walk.pop();
    order.push(l);
    for (let i = l.subs.length - 1; i >= 0; i--) walk.push(l.subs[i]);
  }
  model.problems = order.filter((l) => l.data.status === 'failed' || l.data.errors > 0);
  model.scopes = scopes.length;
  return model;
}

/** Reads the child scopes `line` was cut from (`/api/skeleton/{id}?depth=1`)
 *  and puts them in place; lines already there stay as they are. */
export async function loadSubscopes(model, line) {
  const q = new URLSearchParams({ depth: '1' });
  const skel = await api(`/api/skeleton/${encodeURIComponent(line.data.id)}?${q}`);
  const have = new Map(line.subs.map((l) => [l.data.id, l]));
  const scopes = [];
  const subs = [];
  for (const c of skel.scope.children) {
    const old = have.get(c.id);
    if (old) subs.push(old);
    else subs.push(...addScopes(model, line, [c], scopes));
  }
  line.subs = subs;
  line.moreScopes = skel.scope.more_scopes || 0;
  settleTrouble(scopes);
  for (const l of scopes) if (l.data.status === 'failed' || l.data.errors > 0) model.problems.push(l);
  delete model.order;
  if (line.loaded) merge(line);
  else setLines(line);
  return scopes;
}

/** A scope's lines before its records are read: its subscopes, then a
 *  line for the subscopes not read yet. */
function setLines(line) {
  line.children = line.subs.slice();
  const m = moreScopesLine(line);
  if (m) line.children.push(m);
}

function moreScopesLine(line) {
  if (!line.moreScopes) return null;
  return new Line('scopes', { id: line.data.id, left: line.moreScopes }, line.depth + 1, line);
}

/** After the skeleton is fetched again: scopes whose records did not change
 *  keep the pages already read; the others read theirs again when shown. */
export function carryPages(old, model) {
  for (const line of model.byIdent.values()) {
    if (line.kind !== 'scope') continue;
    const was = old.byIdent.get(line.ident);
    if (!was || !was.loaded || was.data.records !== line.data.records) continue;
    line.recs = was.recs.map((r) => {
      const rec = new Line('record', r.data, line.depth + 1, line);
      model.byIdent.set(rec.ident, rec);
      return rec;
    });
    line.next = was.next;
    line.loaded = true;
    const o = old.opening.get(line.data.id);
    if (o) model.opening.set(line.data.id, o);
    merge(line);
  }
}

/** Reads one page of `line`'s records, after `cursor` (`fresh`: in place of
 *  what was read before). */
export async function loadScopePage(model, line, cursor, fresh) {
  // `?page=N` in the page's URL: another page size (tests use small ones).
  const q = new URLSearchParams({ limit: String(model.pageSize || PAGE) });
  if (cursor) q.set('after', cursor);
  const t0 = performance.now();
  const page = await api(`/api/scope/${encodeURIComponent(line.data.id)}?${q}`);
  // For the benchmark: a page's request to its parsed answer.
  performance.measure('distlog:scope-fetch', { start: t0, duration: performance.now() - t0 });
  if (fresh) {
    for (const r of line.recs) model.byIdent.delete(r.ident);
    line.recs = [];
  }
  for (const r of page.records) {
    if (r.seq === 0) {
      // The opening record is the scope's own line.
      model.opening.set(line.data.id, r);
      continue;
    }
    const rec = new Line('record', r, line.depth + 1, line);
    line.recs.push(rec);
    model.byIdent.set(rec.ident, rec);
  }
  line.next = page.next;
  line.loaded = true;
  delete model.order;
  merge(line);
}

/** A scope's lines: its records read so far with its subscopes among them
 *  by start time (as the whole tree places them), then a line for the rest. */
function merge(line) {
  const out = [];
  const subs = line.subs;
  let j = 0;
  for (const r of line.recs) {
    while (j < subs.length && (subs[j].data.started == null || subs[j].data.started <= r.data.created)) out.push(subs[j++]);
    out.push(r);
  }
  if (line.next) {
    // The opening record is counted among the scope's but not shown.
    out.push(new Line('more', { id: line.data.id, left: line.data.records - line.recs.length - 1 }, line.depth + 1, line));
  }
  while (j < subs.length) out.push(subs[j++]);
  const m = moreScopesLine(line);
  if (m) out.push(m);
  line.children = out;
}

/** The row of a "more records" or "more scopes" line. */
export function moreRow(l, attrs) {
  const left = Math.max(0, l.data.left);
  if (l.kind === 'scopes') {
    const what = left === 1 ? 'scope' : 'scopes';
    return h(
      'div',
      attrs,
      h('span.twisty.leaf', { 'aria-hidden': 'true' }),
      h('span.msg.dim', null, l.parent.loadingScopes ? `loading ${left.toLocaleString('en')} more ${what}…` : `${left.toLocaleString('en')} more ${what}`),
    );
  }
  return h(
    'div',
    attrs,
    h('span.twisty.leaf', { 'aria-hidden': 'true' }),
    h('span.msg.dim', null, l.parent.loading ? `loading ${left.toLocaleString('en')} more records…` : `${left.toLocaleString('en')} more records`),
  );
}
