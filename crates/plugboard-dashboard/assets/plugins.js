// The plugins page: every plugin with its state, health, start time, calls and errors; filters;
// rows updated in place by the live `state` events.
import { get, el, badge, ms } from './api.js';

const COLUMNS = ['id', 'version', 'runtime', 'state', 'health', 'start', 'calls', 'errors', 'panel'];

export function pluginsView(main) {
  const rows = new Map();
  const text = el('input', { type: 'search', placeholder: 'filter by id', id: 'filter-text', 'aria-label': 'filter by id' });
  const state = el('select', { id: 'filter-state', 'aria-label': 'filter by state' }, el('option', { value: '' }, 'every state'));
  const runtime = el('select', { id: 'filter-runtime', 'aria-label': 'filter by runtime' }, el('option', { value: '' }, 'every runtime'));
  const tbody = el('tbody');
  const summary = el('p', { class: 'summary' });
  main.append(
    el('h1', {}, 'Plugins'),
    el('div', { class: 'filters' }, text, state, runtime),
    el('table', { id: 'plugins' }, el('thead', {}, el('tr', {}, COLUMNS.map((c) => el('th', {}, c)))), tbody),
    summary,
  );

  function options(select, values) {
    const chosen = select.value;
    select.replaceChildren(select.firstChild, ...[...values].sort().map((v) => el('option', { value: v }, v)));
    select.value = chosen;
  }

  function line(p) {
    return el('tr', { 'data-id': p.id, 'data-state': p.state, title: p.reason ?? '' },
      el('td', {}, el('a', { href: `#/plugins/${encodeURIComponent(p.id)}` }, p.id)),
      el('td', {}, p.version ?? '–'),
      el('td', {}, p.runtime ?? '–'),
      el('td', { class: 'state' }, badge(p.state)),
      el('td', {}, p.health ? badge(p.health) : '–'),
      el('td', { class: 'num' }, ms(p.start_ms)),
      el('td', { class: 'num calls' }, p.calls),
      el('td', { class: 'num errors' }, p.errors),
      el('td', {}, p.panel ? el('a', { href: `#/plugins/${encodeURIComponent(p.id)}`, class: 'panel-link' }, p.panel) : ''));
  }

  function render() {
    const q = text.value.trim().toLowerCase();
    const all = [...rows.values()];
    const shown = all.filter((p) => (!q || p.id.toLowerCase().includes(q))
      && (!state.value || p.state === state.value)
      && (!runtime.value || p.runtime === runtime.value));
    tbody.replaceChildren(...shown.map(line));
    options(state, new Set(all.map((p) => p.state)));
    options(runtime, new Set(all.map((p) => p.runtime).filter(Boolean)));
    const active = all.filter((p) => p.state === 'active').length;
    summary.textContent = `${all.length} plugins, ${active} active; showing ${shown.length}`;
  }

  async function refresh() {
    const list = await get('/api/plugins');
    rows.clear();
    for (const p of list) rows.set(p.id, p);
    render();
  }

  for (const input of [text, state, runtime]) input.addEventListener('input', render);
  refresh().catch((e) => summary.replaceChildren(el('span', { class: 'error' }, e.message)));

  return {
    refresh,
    event(kind, data) {
      if (kind === 'state' && data.row) {
        rows.set(data.id, data.row);
        render();
      } else if (kind === 'resync' || kind === 'reload') {
        refresh();
      }
    },
  };
}
