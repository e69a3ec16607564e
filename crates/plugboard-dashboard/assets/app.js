// The dashboard's entry: session, live events, and the two views chosen by the URL fragment
// (#/ for the plugins page, #/plugins/<id> for a plugin's page).
import { openSession, el } from './api.js';
import { pluginsView } from './plugins.js';
import { pluginView } from './plugin.js';

const main = document.getElementById('main');
const live = document.getElementById('live');
let view = null;

function route() {
  view?.close?.();
  main.replaceChildren();
  const m = location.hash.match(/^#\/plugins\/([^/]+)$/);
  view = m ? pluginView(main, decodeURIComponent(m[1])) : pluginsView(main);
}

function connect() {
  const source = new EventSource('/api/events');
  source.addEventListener('open', () => {
    live.textContent = 'live';
    live.className = 'live on';
    view?.refresh?.();
  });
  source.addEventListener('error', () => {
    live.textContent = 'reconnecting…';
    live.className = 'live off';
  });
  for (const kind of ['state', 'reload', 'resync']) {
    source.addEventListener(kind, (e) => view?.event?.(kind, JSON.parse(e.data)));
  }
}

try {
  await openSession();
  window.addEventListener('hashchange', route);
  route();
  connect();
} catch (e) {
  main.replaceChildren(el('p', { class: 'error' }, `The dashboard needs its token: ${e.message}`));
}
