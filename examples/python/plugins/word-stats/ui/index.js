// The word-stats panel: the most frequent words of a text, as bars, computed by the Python
// process plugin. Runs in the dashboard's sandboxed frame; `plugboard.call` reaches only
// word-stats.
(() => {
  const style = document.createElement('style');
  style.textContent = `
    body { font: 14px/1.4 system-ui, sans-serif; margin: 12px; color: #1d1f21; }
    textarea { width: 100%; box-sizing: border-box; height: 80px; font: inherit; padding: 6px; }
    .row { display: flex; align-items: center; gap: 8px; margin: 3px 0; }
    .word { width: 120px; text-align: right; color: #57606a; }
    .bar { height: 14px; background: #8250df; border-radius: 3px; }
    .summary { margin: 8px 0; font-weight: 600; } .error { color: #cf222e; }`;
  document.head.append(style);
  const input = document.createElement('textarea');
  input.id = 'text';
  input.value = 'the host runs the plugin and the plugin serves the host';
  const summary = document.createElement('div');
  summary.className = 'summary';
  summary.id = 'summary';
  const bars = document.createElement('div');
  document.body.append(input, summary, bars);

  async function update() {
    try {
      const s = await window.plugboard.call('stats', input.value);
      summary.textContent = `${s.words} words, ${s.chars} characters (${s.total} since the process started)`;
      summary.className = 'summary';
      const max = Math.max(1, ...s.top.map(([, n]) => n));
      bars.replaceChildren(...s.top.map(([word, n]) => {
        const row = document.createElement('div');
        row.className = 'row';
        const label = document.createElement('span');
        label.className = 'word';
        label.textContent = word;
        const bar = document.createElement('span');
        bar.className = 'bar';
        bar.style.width = `${(n / max) * 60}%`;
        const count = document.createElement('span');
        count.textContent = n;
        row.append(label, bar, count);
        return row;
      }));
    } catch (e) {
      summary.textContent = e.message;
      summary.className = 'summary error';
    }
  }
  let timer = null;
  input.addEventListener('input', () => {
    clearTimeout(timer);
    timer = setTimeout(update, 250);
  });
  update();
})();
