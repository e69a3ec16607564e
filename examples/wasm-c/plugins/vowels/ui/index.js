// The vowels panel: the WebAssembly plugin's `count` ({"vowels": N}) as you type, with the
// share of vowels among the letters. Runs in the dashboard's sandboxed frame; `plugboard.call`
// reaches only vowels.
(() => {
  const style = document.createElement('style');
  style.textContent = `
    body { font: 14px/1.4 system-ui, sans-serif; margin: 12px; color: #1d1f21; }
    textarea { width: 100%; box-sizing: border-box; height: 80px; font: inherit; padding: 6px; }
    .big { font-size: 28px; font-weight: 600; margin: 8px 0 4px; }
    .meter { height: 12px; background: #eaeef2; border-radius: 6px; overflow: hidden; }
    .meter span { display: block; height: 100%; background: #bf8700; }
    .error { color: #cf222e; }`;
  document.head.append(style);
  const input = document.createElement('textarea');
  input.id = 'text';
  input.value = 'plugins in a sandbox';
  const big = document.createElement('div');
  big.className = 'big';
  big.id = 'vowels';
  const meter = document.createElement('div');
  meter.className = 'meter';
  const fill = document.createElement('span');
  meter.append(fill);
  const note = document.createElement('div');
  document.body.append(input, big, meter, note);

  async function update() {
    try {
      const out = await window.plugboard.call('count', input.value);
      const letters = (input.value.match(/[a-z]/gi) || []).length;
      big.textContent = `${out.vowels} vowels`;
      big.className = 'big';
      fill.style.width = `${letters ? (out.vowels / letters) * 100 : 0}%`;
      note.textContent = `${letters} letters; the plugin counts lower-case a, e, i, o, u`;
    } catch (e) {
      big.textContent = e.message;
      big.className = 'big error';
    }
  }
  let timer = null;
  input.addEventListener('input', () => {
    clearTimeout(timer);
    timer = setTimeout(update, 150);
  });
  update();
})();
