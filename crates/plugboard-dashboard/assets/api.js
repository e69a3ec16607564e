// Talking to the dashboard's server. Every element is built with textContent, never innerHTML:
// plugin ids, manifests and logs are data, not markup.

let csrf = null;

/** Fetches the session's CSRF token; state-changing requests carry it in a header. */
export async function openSession() {
  const r = await fetch('/api/session', { credentials: 'same-origin' });
  if (!r.ok) throw new Error((await r.text()).trim());
  csrf = (await r.json()).csrf;
}

async function answer(r) {
  const body = await r.json().catch(() => ({ error: r.statusText }));
  if (!r.ok) throw new Error(body.error || `${r.status} ${r.statusText}`);
  return body;
}

/** GET a JSON resource. */
export async function get(path) {
  return answer(await fetch(path, { credentials: 'same-origin' }));
}

/** POST JSON with the CSRF token. */
export async function post(path, body = {}, headers = {}) {
  return answer(await fetch(path, {
    method: 'POST',
    credentials: 'same-origin',
    headers: { 'content-type': 'application/json', 'x-plugboard-csrf': csrf ?? '', ...headers },
    body: JSON.stringify(body),
  }));
}

/** Builds an element: el('a', {href: '#/'}, 'text', child). */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
    else if (k === 'class') node.className = v;
    else node.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

/** A state badge. */
export function badge(text, kind = text) {
  return el('span', { class: `badge s-${kind ?? 'none'}`, 'data-state': text ?? '' }, text ?? '–');
}

/** Milliseconds as the status table shows them. */
export function ms(value) {
  return value === null || value === undefined ? '–' : `${value.toFixed(1)} ms`;
}
