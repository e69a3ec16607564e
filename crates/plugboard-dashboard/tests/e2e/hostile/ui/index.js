// Tries everything a panel must not be able to do, and writes each outcome into #results.
(async () => {
  const results = {};
  const attempt = async (name, f) => {
    try {
      results[name] = `allowed: ${JSON.stringify(await f())}`;
    } catch (e) {
      results[name] = `refused: ${e && e.name ? e.name : ''} ${e && e.message ? e.message : e}`;
    }
  };
  await attempt('parent.document', () => window.parent.document.title);
  await attempt('top.document', () => window.top.document.cookie);
  await attempt('document.cookie', () => document.cookie);
  await attempt('localStorage', () => window.localStorage.length);
  await attempt('fetch /api/session', async () => (await fetch('/api/session')).text());
  await attempt('fetch call', async () => (await fetch('/api/plugins/text-tools/call', { method: 'POST', body: '{"method":"count","payload":"a b"}' })).status);
  // Through the bridge, naming another plugin.
  await attempt('bridge to text-tools', () => new Promise((resolve, reject) => {
    const seq = 4242;
    window.addEventListener('message', (event) => {
      if (event.data && event.data.seq === seq) {
        if (event.data.error !== undefined) reject(new Error(event.data.error));
        else resolve(event.data.result);
      }
    });
    window.parent.postMessage({ type: 'plugboard.call', seq, plugin: 'text-tools', method: 'count', payload: 'a b c' }, '*');
    setTimeout(() => reject(new Error('no answer')), 3000);
  }));
  // Its own plugin's method, which the bridge forwards.
  await attempt('own method', () => window.plugboard.call('echo', 'hello'));
  const out = document.createElement('pre');
  out.id = 'results';
  out.textContent = JSON.stringify(results, null, 1);
  document.body.append(out);
})();
