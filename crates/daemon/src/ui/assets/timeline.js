// The timeline of one task: each scope a bar on a shared time axis, nested
// in tree order, coloured by status; running bars grow with the clock.
// Drawn on one canvas, only the rows in view, so 5,000 scopes scroll as
// lightly as 50. Drag across the axis to zoom to a range; a click on a bar
// opens that scope's records in the tree.

import { duration, h, now } from './util.js';

const ROW_H = 18; // px
const LABEL_W = 260; // px of scope names at the left
const AXIS_H = 22; // px
export const COLOURS = {
  succeeded: '#2e9e52',
  failed: '#d62828',
  running: '#2f6fd6',
  unfinished: '#8a8f98',
};

export class Timeline {
  constructor(el, { onOpen }) {
    this.el = el;
    this.onOpen = onOpen;
    this.rows = [];
    this.range = null; // [t0, t1] when zoomed
    this.drag = null;
    this.canvas = h('canvas.timeline-canvas', { 'aria-label': 'timeline of the scopes' });
    this.spacer = h('div.timeline-spacer');
    this.scroller = h('div.timeline-scroll', { tabindex: '0' }, this.canvas, this.spacer);
    this.info = h('span.dim.timeline-info');
    this.resetBtn = h('button', { type: 'button', 'data-action': 'timeline-reset', onclick: () => this.zoom(null), hidden: true }, 'whole task');
    this.section = h(
      'section.timeline',
      { hidden: true },
      h('div.toolbar.timeline-tools', null, this.resetBtn, this.info, h('span.dim', null, 'drag across to zoom · click a bar for its records')),
      this.scroller,
    );
    el.append(this.section);
    this.scroller.addEventListener('scroll', () => this.paint(), { passive: true });
    this.canvas.addEventListener('mousedown', (e) => this.onDown(e));
    window.addEventListener('mousemove', (this.onMoveW = (e) => this.onMove(e)));
    window.addEventListener('mouseup', (this.onUpW = (e) => this.onUp(e)));
    this.ticker = setInterval(() => {
      if (!this.section.hidden && this.rows.some((r) => r.status === 'running')) this.paint();
    }, 500);
  }

  unmount() {
    clearInterval(this.ticker);
    window.removeEventListener('mousemove', this.onMoveW);
    window.removeEventListener('mouseup', this.onUpW);
  }

  get shown() {
    return !this.section.hidden;
  }

  show(on) {
    this.section.hidden = !on;
    if (on && this.stale) this.rebuild();
    if (on) this.paint();
  }

  /** The scopes of a tree view's model, in tree order. */
  setModel(model) {
    this.model = model;
    // Built when shown: a hidden timeline costs a big tree's first paint
    // nothing.
    if (this.shown) this.rebuild();
    else this.stale = true;
  }

  rebuild() {
    this.stale = false;
    const model = this.model;
    const rows = [];
    const stack = [model.root];
    while (stack.length) {
      const l = stack.pop();
      const d = l.data;
      rows.push({
        id: d.id,
        depth: l.depth,
        message: d.message,
        status: d.status,
        start: d.started,
        end: d.ended,
        foreign: d.foreign,
        host: d.host,
        process: d.process,
      });
      const subs = l.subs || l.children.filter((c) => c.kind === 'scope');
      for (let i = subs.length - 1; i >= 0; i--) stack.push(subs[i]);
    }
    this.rows = rows;
    this.spacer.style.height = `${rows.length * ROW_H + AXIS_H}px`;
    this.info.textContent = `${rows.length.toLocaleString('en')} scopes`;
    this.paint();
  }

  /** The whole task's span, or the zoomed range. */
  span() {
    if (this.range) return this.range;
    let t0 = Infinity;
    let t1 = -Infinity;
    const t = now();
    for (const r of this.rows) {
      if (r.start == null) continue;
      t0 = Math.min(t0, r.start);
      t1 = Math.max(t1, this.endOf(r, t));
    }
    if (!Number.isFinite(t0)) return [0, 1];
    return [t0, Math.max(t1, t0 + 1e-3)];
  }

  /** Where a bar ends: its closing time, now while it runs, else its start. */
  endOf(r, t) {
    if (r.end != null) return r.end;
    if (r.status === 'running') return t;
    return r.start;
  }

  zoom(range) {
    this.range = range;
    this.resetBtn.hidden = !range;
    this.paint();
  }

  paint() {
    if (this.painting || this.section.hidden) return;
    this.painting = true;
    requestAnimationFrame(() => {
      this.painting = false;
      const t0 = performance.now();
      this.draw();
      const ms = performance.now() - t0;
      document.body.dataset.timelineDrawMs = ms.toFixed(2);
      document.body.dataset.timelineDrawn = String(Number(document.body.dataset.timelineDrawn || 0) + 1);
    });
  }

  draw() {
    const sc = this.scroller;
    const w = sc.clientWidth || 800;
    const hgt = sc.clientHeight || 500;
    const dpr = window.devicePixelRatio || 1;
    const c = this.canvas;
    if (c.width !== Math.round(w * dpr) || c.height !== Math.round(hgt * dpr)) {
      c.width = Math.round(w * dpr);
      c.height = Math.round(hgt * dpr);
      c.style.width = `${w}px`;
      c.style.height = `${hgt}px`;
    }
    c.style.top = `${sc.scrollTop}px`;
    const g = c.getContext('2d');
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.clearRect(0, 0, w, hgt);
    const [t0, t1] = this.span();
    const plotW = Math.max(50, w - LABEL_W - 8);
    const x = (t) => LABEL_W + ((t - t0) / (t1 - t0)) * plotW;
    this.geometry = { t0, t1, plotW };
    // The axis: a tick every "round" step.
    g.font = '11px system-ui, sans-serif';
    g.fillStyle = '#666';
    g.strokeStyle = '#e3e5e8';
    const step = niceStep((t1 - t0) / 8);
    for (let t = Math.ceil(0 / step) * step; t <= t1 - t0 + 1e-9; t += step) {
      const px = x(t0 + t);
      g.beginPath();
      g.moveTo(px, AXIS_H - 4);
      g.lineTo(px, hgt);
      g.stroke();
      g.fillText(`+${duration(t)}`, px + 2, 12);
    }
    const first = Math.max(0, Math.floor(sc.scrollTop / ROW_H));
    const last = Math.min(this.rows.length, first + Math.ceil((hgt - AXIS_H) / ROW_H) + 1);
    const t = now();
    for (let i = first; i < last; i++) {
      const r = this.rows[i];
      const y = AXIS_H + (i - first) * ROW_H - (sc.scrollTop % ROW_H);
      if (y + ROW_H < AXIS_H) continue;
      if (i % 2) {
        g.fillStyle = '#f6f7f9';
        g.fillRect(0, y, w, ROW_H);
      }
      g.fillStyle = '#222';
      const label = `${r.foreign ? '⇄ ' : ''}${r.message ?? '(no opening record)'}`;
      g.fillText(label.slice(0, 40), 4 + Math.min(r.depth, 12) * 10, y + 13, LABEL_W - 8 - Math.min(r.depth, 12) * 10);
      if (r.start == null) continue;
      const x0 = Math.max(LABEL_W, x(r.start));
      const x1 = Math.min(LABEL_W + plotW, Math.max(x(this.endOf(r, t)), x(r.start) + 2));
      if (x1 < LABEL_W || x0 > LABEL_W + plotW) continue;
      g.fillStyle = COLOURS[r.status] || COLOURS.unfinished;
      g.fillRect(x0, y + 3, Math.max(2, x1 - x0), ROW_H - 6);
      if (r.foreign) {
        // Another host or process: a dark edge and its name after the bar.
        g.fillStyle = '#111';
        g.fillRect(x0, y + 3, 2, ROW_H - 6);
        g.fillStyle = '#444';
        g.fillText(`${r.host ?? '?'}:${r.process ?? '?'}`, Math.min(x1 + 4, w - 90), y + 13);
      }
    }
    if (this.drag && this.drag.x1 !== undefined) {
      g.fillStyle = 'rgba(47, 111, 214, 0.15)';
      const a = Math.min(this.drag.x0, this.drag.x1);
      g.fillRect(a, 0, Math.abs(this.drag.x1 - this.drag.x0), hgt);
    }
  }

  rowAt(e) {
    const rect = this.canvas.getBoundingClientRect();
    const y = e.clientY - rect.top - AXIS_H + this.scroller.scrollTop;
    if (y < 0) return null;
    return this.rows[Math.floor(y / ROW_H)] || null;
  }

  timeAt(px) {
    const { t0, t1, plotW } = this.geometry;
    return t0 + ((px - LABEL_W) / plotW) * (t1 - t0);
  }

  onDown(e) {
    const rect = this.canvas.getBoundingClientRect();
    this.drag = { x0: e.clientX - rect.left, left: rect.left, row: this.rowAt(e) };
  }

  onMove(e) {
    if (!this.drag) return;
    this.drag.x1 = e.clientX - this.drag.left;
    this.paint();
  }

  onUp(e) {
    const d = this.drag;
    this.drag = null;
    if (!d) return;
    const x1 = e.clientX - d.left;
    if (Math.abs(x1 - d.x0) > 6 && Math.max(d.x0, x1) > LABEL_W) {
      const a = this.timeAt(Math.max(LABEL_W, Math.min(d.x0, x1)));
      const b = this.timeAt(Math.max(d.x0, x1));
      this.zoom([a, b]);
    } else if (d.row) {
      this.onOpen(d.row.id);
    } else {
      this.paint();
    }
  }
}

/** A step of 1, 2 or 5 times a power of ten seconds near `raw`. */
function niceStep(raw) {
  if (!(raw > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(raw));
  const m = raw / p;
  return (m < 1.5 ? 1 : m < 3.5 ? 2 : m < 7.5 ? 5 : 10) * p;
}

export const TIMELINE_ROW_H = ROW_H;
export const TIMELINE_AXIS_H = AXIS_H;
export const TIMELINE_LABEL_W = LABEL_W;
