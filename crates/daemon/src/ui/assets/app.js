// The page: routes on the path, runs one view at a time, and owns what is
// shared between views (header counters, details panel, help, shortcuts).

import { details } from './details.js';
import { LevelsView } from './levels.js';
import { ScopesView } from './scopes.js';
import { TailView } from './tail.js';
import { TaskList } from './tasks.js';
import { TreeView } from './tree.js';
import { api, every, h, onOffline, typing } from './util.js';

const viewEl = document.getElementById('view');
let current = null;

/** Shows the view the current URL names. */
function route() {
  if (current) current.unmount();
  current = null;
  details.close({ silent: true });
  viewEl.replaceChildren();
  const path = location.pathname;
  let nav = null;
  if (path === '/' || path === '') {
    current = new TaskList(viewEl, new URLSearchParams(location.search));
    nav = 'tasks';
  } else if (path.startsWith('/tasks/') && path.length > '/tasks/'.length) {
    const id = path
      .slice('/tasks/'.length)
      .split('/')
      .map((s) => decodeURIComponent(s))
      .join('/');
    current = new TreeView(viewEl, id);
    nav = 'tasks';
  } else if (path === '/scopes') {
    current = new ScopesView(viewEl);
    nav = 'scopes';
  } else if (path === '/tail') {
    current = new TailView(viewEl, new URLSearchParams(location.search));
    nav = 'tail';
  } else if (path === '/levels') {
    current = new LevelsView(viewEl);
    nav = 'levels';
  } else {
    viewEl.append(
      h('div.empty', null, h('p', null, `Nothing at ${path}. `), h('a', { href: '/', 'data-link': true }, 'The task list')),
    );
  }
  for (const a of document.querySelectorAll('[data-nav]')) {
    a.classList.toggle('active', a.dataset.nav === nav);
    if (a.dataset.nav === nav) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
}

/** Goes to `href` inside the page, without reloading it. */
export function navigate(href) {
  if (href === location.pathname + location.search) return;
  history.pushState(null, '', href);
  route();
  viewEl.focus({ preventScroll: true });
}
window.distlogNavigate = navigate;

document.addEventListener('click', (e) => {
  if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
  const a = e.target.closest && e.target.closest('a[href]');
  if (!a || a.target || a.hasAttribute('download')) return;
  const url = new URL(a.href, location.href);
  if (url.origin !== location.origin || url.pathname.startsWith('/api/')) return;
  e.preventDefault();
  navigate(url.pathname + url.search);
});
window.addEventListener('popstate', route);
// A page left behind (another page opened in the tab, or kept in the
// back-forward cache) lets go of its feed connection: browsers allow six
// connections to a host, and live views each hold one, so pages left with
// theirs open made the next pages wait a minute for a connection.
window.addEventListener('pagehide', () => {
  if (current) current.unmount();
  current = null;
});
window.addEventListener('pageshow', (e) => {
  if (e.persisted) route();
});

// -- header: the daemon's counters, and a banner while it is unreachable --

const statsEl = document.getElementById('daemon-stats');
const fmt = (n) => (typeof n === 'number' ? n.toLocaleString('en') : '–');
every(3000, async () => {
  const s = await api('/api/stats');
  const parts = [`received ${fmt(s.received)}`];
  if (s.store) parts.push(`stored ${fmt(s.store.records)}`);
  if (s.rejected && s.rejected.total) parts.push(`rejected ${fmt(s.rejected.total)}`);
  if (s.store && s.store.lost) parts.push(`lost ${fmt(s.store.lost)}`);
  statsEl.textContent = parts.join(' · ');
});
onOffline((off) => {
  document.getElementById('offline').hidden = !off;
});

// -- help and shortcuts --

const help = document.getElementById('help');
document.getElementById('help-button').addEventListener('click', () => help.showModal());

let pendingG = false;
document.addEventListener('keydown', (e) => {
  if (e.ctrlKey || e.metaKey || e.altKey) return;
  if (help.open) return;
  if (e.key === 'Escape') {
    if (typing(e)) {
      e.target.blur();
      return;
    }
    if (details.isOpen()) {
      details.close();
      e.preventDefault();
      return;
    }
  }
  if (typing(e)) return;
  if (pendingG) {
    pendingG = false;
    if (e.key === 't') return navigate('/');
    if (e.key === 'l') return navigate('/tail');
  }
  if (e.key === 'g') {
    pendingG = true;
    return;
  }
  if (e.key === '?') {
    e.preventDefault();
    help.showModal();
    return;
  }
  if (e.key === '/' && current && current.focusFilter) {
    e.preventDefault();
    current.focusFilter();
    return;
  }
  if (current && current.onKey && current.onKey(e)) e.preventDefault();
});

details.onClose = () => {
  if (current && current.detailsClosed) current.detailsClosed();
};

route();
