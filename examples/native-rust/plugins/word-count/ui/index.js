// The word-count panel: the native plugin's `count` and its running total (kept in its
// key-value store). Runs in the dashboard's sandboxed frame; `plugboard.call` is the only way
// out, and reaches only word-count.
(() => {
  const style = document.createElement('style');
  style.textContent = `
    body { font: 14px/1.4 system-ui, sans-serif; margin: 12px; color: #1d1f21; }
    input { width: 70%; font: inherit; padding: 6px; } button { font: inherit; padding: 6px 12px; }
    .big { font-size: 28px; font-weight: 600; margin-top: 8px; } .error { color: #cf222e; }
    ol { color: #6b7075; }`;
  document.head.append(style);
  const form = document.createElement('form');
  const input = document.createElement('input');
  input.placeholder = 'a line of text';
  input.id = 'text';
  const button = document.createElement('button');
  button.textContent = 'Count';
  form.append(input, ' ', button);
  const result = document.createElement('div');
  result.className = 'big';
  result.id = 'result';
  const history = document.createElement('ol');
  document.body.append(form, result, history);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    try {
      // The native plugin takes the text's bytes; the bridge sends the payload as JSON, so
      // the quotes of the JSON string are counted with the first and last word, not as words.
      const out = await window.plugboard.call('count', input.value);
      result.textContent = `${out.words} words, ${out.total} in total`;
      result.className = 'big';
      const item = document.createElement('li');
      item.textContent = `${input.value} → ${out.words}`;
      history.prepend(item);
    } catch (e) {
      result.textContent = e.message;
      result.className = 'big error';
    }
  });
})();
