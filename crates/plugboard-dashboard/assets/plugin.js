// A plugin's page: status and actions, manifest, dependencies graph, permissions, effective
// configuration, the live log, and the plugin's panel when it has one.
import { get, post, el, badge, ms } from './api.js';
import { graph } from './graph.js';
import { openPanel } from './panel.js';

const LEVELS = ['trace', 'debug', 'info', 'warning', 'error', 'critical'];

function permissionRows(requested, granted) {
  const flat = (p) => {
    const out = new Map();
    if (!p) return out;
    for (const path of p.fs?.read ?? []) out.set(`fs read ${path}`, true);
    for (const path of p.fs?.write ?? []) out.set(`fs write ${path}`, true);
    for (const n of p.net ?? []) out.set(`net ${n}`, true);
    for (const e of p.env ?? []) out.set(`env ${e}`, true);
    if (p.storage) out.set('storage', true);
    return out;
  };
  const req = flat(requested);
  const got = flat(granted);
  const keys = [...new Set([...req.keys(), ...got.keys()])];
  if (!keys.length) return [el('tr', {}, el('td', { colspan: 3 }, 'none requested'))];
  return keys.map((k) => el('tr', {},
    el('td', {}, k),
    el('td', {}, req.has(k) ? 'yes' : 'no'),
    el('td', { class: got.has(k) ? 'granted' : 'denied' }, got.has(k) ? 'granted' : 'not granted')));
}

export function pluginView(main, id) {
  let detail = null;
  let closed = false;
  const head = el('div', { class: 'plugin-head' });
  const actions = el('div', { class: 'actions' });
  const message = el('p', { class: 'message', id: 'action-message' });
  // The transitions of this plugin's instances as they happen (a restart starts a new
  // instance beside the running one, then stops the old one).
  const transitions = el('ol', { class: 'transitions', id: 'transitions' });
  const graphBox = el('div', { class: 'graph' });
  const body = el('div', { class: 'sections' });
  const level = el('select', { id: 'log-level', 'aria-label': 'log level' },
    el('option', { value: '' }, 'every level'), LEVELS.map((l) => el('option', { value: l }, l)));
  const log = el('pre', { id: 'log', class: 'log' });
  const panelBox = el('section', { id: 'panel-section', hidden: true });
  main.append(el('p', {}, el('a', { href: '#/' }, '← plugins')), head, actions, message, transitions, panelBox, body);

  function renderHead(status) {
    head.replaceChildren(
      el('h1', {}, detail?.name ?? id, ' ', el('span', { class: 'muted' }, status.version ?? '')),
      el('p', { class: 'facts' },
        el('span', { id: 'plugin-state' }, badge(status.state)), ' ',
        status.health ? badge(status.health) : '', ' ',
        el('span', {}, `runtime ${status.runtime ?? '–'}`), ' · ',
        el('span', {}, `start ${ms(status.start_ms)}`), ' · ',
        el('span', { id: 'plugin-calls' }, `${status.calls} calls`), ' · ',
        el('span', {}, `${status.errors} errors`)),
      status.reason ? el('p', { class: 'reason' }, status.reason) : '',
      detail?.description ? el('p', { class: 'muted' }, detail.description) : '');
  }

  async function act(action) {
    for (const b of actions.querySelectorAll('button')) b.disabled = true;
    message.textContent = `${action}…`;
    try {
      const out = await post(`/api/plugins/${encodeURIComponent(id)}/actions/${action}`);
      message.textContent = out.events.length ? out.events.join('; ') : `${action}: done`;
    } catch (e) {
      message.textContent = `${action} failed: ${e.message}`;
    } finally {
      for (const b of actions.querySelectorAll('button')) b.disabled = false;
    }
  }

  actions.append(...['enable', 'disable', 'restart', 'reload'].map((a) =>
    el('button', { type: 'button', id: `action-${a}`, onclick: () => act(a) }, a)));

  function renderBody() {
    const d = detail;
    graphBox.replaceChildren(graph(id, d.dependencies, d.dependents));
    body.replaceChildren(
      el('section', {}, el('h2', {}, 'Dependencies and dependents'), graphBox),
      el('section', {}, el('h2', {}, 'Permissions'),
        el('table', { class: 'perms' }, el('thead', {}, el('tr', {}, el('th', {}, 'permission'), el('th', {}, 'requested'), el('th', {}, 'effective'))),
          el('tbody', {}, permissionRows(d.permissions.requested, d.permissions.granted)))),
      el('section', {}, el('h2', {}, 'Effective configuration'),
        d.config.error ? el('p', { class: 'error' }, d.config.error) : el('pre', { id: 'config' }, JSON.stringify(d.config.value, null, 2))),
      el('section', {}, el('h2', {}, 'Manifest'), el('pre', { id: 'manifest' }, d.manifest_yaml)),
      el('section', { class: 'wide' }, el('h2', {}, 'Log ', level), log));
    if (d.ui && panelBox.hidden) {
      panelBox.hidden = false;
      const frameBox = el('div', { class: 'panel-frame' });
      const icon = d.ui.icon ? el('img', { src: `/api/plugins/${encodeURIComponent(id)}/icon`, alt: '', class: 'icon' }) : '';
      const open = el('button', { type: 'button', id: 'open-panel', onclick: async () => {
        open.disabled = true;
        try {
          await openPanel(id, frameBox);
          open.hidden = true;
        } catch (e) {
          frameBox.replaceChildren(el('p', { class: 'error' }, e.message));
          open.disabled = false;
        }
      } }, 'Open panel');
      panelBox.append(el('h2', {}, icon, ' ', d.ui.title), open, frameBox);
    }
  }

  // The log: every line kept, the level filter applied on display.
  const lines = [];
  function showLine(l) {
    const node = el('span', { class: `line l-${l.level ?? 'none'}`, 'data-level': l.level ?? '' }, l.text, '\n');
    node.hidden = level.value !== '' && l.level !== level.value;
    log.append(node);
  }
  level.addEventListener('change', () => {
    for (const node of log.children) node.hidden = level.value !== '' && node.dataset.level !== level.value;
  });
  const logSource = new EventSource(`/api/plugins/${encodeURIComponent(id)}/log/stream`);
  logSource.addEventListener('log', (e) => {
    const l = JSON.parse(e.data);
    lines.push(l);
    const stick = log.scrollTop + log.clientHeight >= log.scrollHeight - 4;
    showLine(l);
    if (stick) log.scrollTop = log.scrollHeight;
  });

  async function refresh() {
    try {
      detail = await get(`/api/plugins/${encodeURIComponent(id)}`);
      if (closed) return;
      renderHead(detail.status);
      renderBody();
    } catch (e) {
      head.replaceChildren(el('p', { class: 'error' }, e.message));
    }
  }
  refresh();

  // After a panel's call, the counters (at most twice a second).
  let counting = null;
  const onCalled = (e) => {
    if (e.detail !== id || counting) return;
    counting = setTimeout(async () => {
      counting = null;
      try {
        const d = await get(`/api/plugins/${encodeURIComponent(id)}`);
        if (!closed) renderHead(d.status);
      } catch { /* the next event tries again */ }
    }, 500);
  };
  window.addEventListener('plugboard:called', onCalled);

  return {
    refresh,
    close() {
      closed = true;
      logSource.close();
      window.removeEventListener('plugboard:called', onCalled);
    },
    event(kind, data) {
      if (kind === 'state' && data.id === id) {
        transitions.append(el('li', { 'data-to': data.to }, `${new Date().toLocaleTimeString()} ${data.from} → ${data.to}`));
        while (transitions.children.length > 8) transitions.firstChild.remove();
        if (data.row) renderHead(data.row);
      } else if (kind === 'state' && detail) {
        for (const node of graphBox.querySelectorAll(`[data-node="${CSS.escape(data.id)}"]`)) {
          node.setAttribute('class', `node s-${data.to}`);
        }
      } else if (kind === 'reload' || kind === 'resync') {
        refresh();
      }
    },
  };
}
