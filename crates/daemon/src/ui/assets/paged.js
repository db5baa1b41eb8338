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

/** The model of a tree view from a skeleton: scope lines only, each with
 *  its subscopes in `subs`; records come later. */
export function buildSkeleton(skel) {
  const byIdent = new Map();
  const opening = new Map();
  const { children: kids, ...rootData } = skel.scope;
  const root = new Line('scope', rootData, 0, null);
  const scopes = [];
  const stack = [[root, kids]];
  while (stack.length) {
    const [line, list] = stack.pop();
    scopes.push(line);
    byIdent.set(line.ident, line);
    line.subs = [];
    for (const c of list) {
      // The answer's object is the line's data, less its children (a copy
      // of each of 10,000 scopes' fields was a tenth of the model's build).
      const sub = c.children;
      c.children = undefined;
      const child = new Line('scope', c, line.depth + 1, line);
      line.subs.push(child);
      stack.push([child, sub]);
    }
    line.children = line.subs.slice();
    line.loaded = false;
    line.recs = [];
    line.next = null;
    line.total = line.data.total_records;
  }
  // Trouble from the deepest scopes up (children come after parents).
  for (let i = scopes.length - 1; i >= 0; i--) {
    const s = scopes[i];
    s.trouble = s.data.status === 'failed' || s.data.errors > 0 || s.subs.some((c) => c.trouble);
  }
  // In paged mode the problems to jump to are the scopes themselves.
  const order = [];
  const walk = [root];
  while (walk.length) {
    const l = walk.pop();
    order.push(l);
    for (let i = l.subs.length - 1; i >= 0; i--) walk.push(l.subs[i]);
  }
  const problems = order.filter((l) => l.data.status === 'failed' || l.data.errors > 0);
  return { root, byIdent, problems, opening, scopes: scopes.length, paged: true };
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
  line.children = out;
}

/** The row of a "more records" line. */
export function moreRow(l, attrs) {
  const left = Math.max(0, l.data.left);
  return h(
    'div',
    attrs,
    h('span.twisty.leaf', { 'aria-hidden': 'true' }),
    h('span.msg.dim', null, l.parent.loading ? `loading ${left.toLocaleString('en')} more records…` : `${left.toLocaleString('en')} more records`),
  );
}
