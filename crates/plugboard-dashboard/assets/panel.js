// Plugin panels. A panel's code is fetched only when the operator opens it, into
// <iframe sandbox="allow-scripts">: an opaque origin that cannot read this page, its cookie
// or its CSRF token. The frame talks to the host only through postMessage; this side checks
// that a message comes from that very frame and forwards it to the frame's own plugin.
import { post, el } from './api.js';

const bridges = new Map(); // frame window -> plugin id

window.addEventListener('message', async (event) => {
  const plugin = bridges.get(event.source);
  if (plugin === undefined) return; // not one of our panel frames: ignored
  const msg = event.data;
  if (!msg || typeof msg !== 'object' || msg.type !== 'plugboard.call' || typeof msg.seq !== 'number') return;
  const reply = (body) => event.source.postMessage({ type: 'plugboard.reply', seq: msg.seq, ...body }, '*');
  if (typeof msg.method !== 'string' || msg.method === '') {
    reply({ error: 'refused: a call names a method' });
    return;
  }
  if (msg.plugin !== undefined && msg.plugin !== plugin) {
    reply({ error: `refused: the ${plugin} panel may call only ${plugin}'s methods` });
    return;
  }
  try {
    const out = await post(`/api/plugins/${encodeURIComponent(plugin)}/call`,
      { method: msg.method, payload: msg.payload ?? null }, { 'x-plugboard-panel': plugin });
    reply({ result: out.result });
  } catch (e) {
    reply({ error: e.message });
  }
  // The plugin's page refreshes its call counters.
  window.dispatchEvent(new CustomEvent('plugboard:called', { detail: plugin }));
});

/** Opens plugin `id`'s panel in `container`. */
export async function openPanel(id, container) {
  const { frame } = await post(`/api/plugins/${encodeURIComponent(id)}/panel`);
  const iframe = el('iframe', {
    sandbox: 'allow-scripts',
    src: frame,
    title: `${id} panel`,
    referrerpolicy: 'no-referrer',
    'data-plugin': id,
    class: 'panel',
  });
  container.replaceChildren(iframe);
  // Registered before the frame's scripts run: its window exists once it is in the document.
  bridges.set(iframe.contentWindow, id);
  iframe.addEventListener('load', () => bridges.set(iframe.contentWindow, id));
}
