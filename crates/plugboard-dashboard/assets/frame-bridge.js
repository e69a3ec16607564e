// Runs inside a plugin panel's sandboxed frame: window.plugboard.call(method, payload) asks the
// dashboard to call a method of this panel's own plugin, and resolves with its JSON result.
(() => {
  const pending = new Map();
  let seq = 0;
  window.addEventListener('message', (event) => {
    if (event.source !== window.parent) return;
    const m = event.data;
    if (!m || m.type !== 'plugboard.reply' || !pending.has(m.seq)) return;
    const { resolve, reject } = pending.get(m.seq);
    pending.delete(m.seq);
    if (m.error !== undefined) reject(new Error(m.error));
    else resolve(m.result);
  });
  const meta = document.querySelector('meta[name="plugboard-plugin"]');
  window.plugboard = Object.freeze({
    plugin: meta ? meta.content : '',
    call(method, payload) {
      seq += 1;
      const id = seq;
      return new Promise((resolve, reject) => {
        pending.set(id, { resolve, reject });
        window.parent.postMessage({ type: 'plugboard.call', seq: id, method, payload }, '*');
      });
    },
  });
})();
