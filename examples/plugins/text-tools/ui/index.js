// The text-tools panel: a live word-count chart. Runs in the dashboard's sandboxed frame and
// reaches its plugin only through `plugboard.call` (the dashboard's postMessage bridge).
(() => {
  const NS = 'http://www.w3.org/2000/svg';
  const style = document.createElement('style');
  style.textContent = `
    body { font: 14px/1.4 system-ui, sans-serif; margin: 12px; color: #1d1f21; }
    textarea { width: 100%; box-sizing: border-box; height: 90px; font: inherit; padding: 6px; }
    .count { font-size: 28px; font-weight: 600; margin: 8px 0 4px; }
    .bar { fill: #0969da; } .bar.last { fill: #1f883d; }
    .axis { stroke: #d0d7de; } .label { font-size: 12px; color: #6b7075; }
    .error { color: #cf222e; }`;
  document.head.append(style);

  const input = document.createElement('textarea');
  input.id = 'text';
  input.placeholder = 'Type or paste text: text-tools counts its words as you type.';
  input.value = 'Plugins make applications grow';
  const count = document.createElement('div');
  count.className = 'count';
  count.id = 'count';
  const status = document.createElement('div');
  status.id = 'status';
  const chart = document.createElementNS(NS, 'svg');
  chart.setAttribute('viewBox', '0 0 400 102');
  chart.setAttribute('width', '100%');
  chart.setAttribute('height', '130');
  chart.setAttribute('preserveAspectRatio', 'none');
  chart.id = 'chart';
  const caption = document.createElement('div');
  caption.className = 'label';
  document.body.append(input, count, status, chart, caption);

  const samples = [];
  function draw() {
    chart.replaceChildren();
    const max = Math.max(1, ...samples);
    const w = 400 / 30;
    const axis = document.createElementNS(NS, 'line');
    for (const [k, v] of Object.entries({ x1: 0, y1: 100, x2: 400, y2: 100, class: 'axis' })) axis.setAttribute(k, v);
    chart.append(axis);
    samples.forEach((n, i) => {
      const h = (n / max) * 90;
      const bar = document.createElementNS(NS, 'rect');
      const attrs = { x: i * w + 1, y: 100 - h, width: w - 2, height: h, class: i === samples.length - 1 ? 'bar last' : 'bar' };
      for (const [k, v] of Object.entries(attrs)) bar.setAttribute(k, v);
      chart.append(bar);
    });
    caption.textContent = `word count of the last ${samples.length} edits (max ${max})`;
  }

  async function update() {
    try {
      const words = await window.plugboard.call('count', input.value);
      count.textContent = `${words} words`;
      status.textContent = '';
      status.className = '';
      samples.push(Number(words));
      if (samples.length > 30) samples.shift();
      draw();
    } catch (e) {
      status.textContent = e.message;
      status.className = 'error';
    }
  }

  let timer = null;
  input.addEventListener('input', () => {
    clearTimeout(timer);
    timer = setTimeout(update, 150);
  });
  update();
})();
