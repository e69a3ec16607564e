// A small SVG graph: dependencies on the left, the plugin in the middle, dependents on the
// right; optional dependencies dashed; each node coloured by its state.
const NS = 'http://www.w3.org/2000/svg';

function svg(tag, attrs = {}, text) {
  const node = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (text !== undefined) node.textContent = text;
  return node;
}

function node(x, y, id, state, href) {
  const g = svg('g', { class: `node s-${state ?? 'none'}`, 'data-node': id });
  const link = href ? svg('a', { href }) : g;
  link.append(svg('rect', { x: x - 70, y: y - 14, width: 140, height: 28, rx: 6 }),
    svg('text', { x, y: y + 4, 'text-anchor': 'middle' }, id.length > 18 ? `${id.slice(0, 17)}…` : id));
  if (link !== g) g.append(link);
  return g;
}

export function graph(id, dependencies, dependents) {
  const rows = Math.max(dependencies.length, dependents.length, 1);
  const height = Math.max(rows * 40 + 20, 90);
  const root = svg('svg', { viewBox: `0 0 620 ${height}`, width: '100%', role: 'img', 'aria-label': `dependencies of ${id}`, id: 'graph' });
  const mid = height / 2;
  const y = (i, n) => (height / (n + 1)) * (i + 1);
  dependencies.forEach((d, i) => {
    root.append(svg('line', { x1: 160, y1: y(i, dependencies.length), x2: 240, y2: mid, class: d.optional ? 'edge optional' : 'edge' }));
    root.append(svg('text', { x: 200, y: y(i, dependencies.length) - 6, class: 'req', 'text-anchor': 'middle' }, d.requirement));
  });
  dependents.forEach((d, i) => root.append(svg('line', { x1: 380, y1: mid, x2: 460, y2: y(i, dependents.length), class: 'edge' })));
  dependencies.forEach((d, i) => root.append(node(90, y(i, dependencies.length), d.id, d.state, `#/plugins/${encodeURIComponent(d.id)}`)));
  dependents.forEach((d, i) => root.append(node(530, y(i, dependents.length), d.id, d.state, `#/plugins/${encodeURIComponent(d.id)}`)));
  root.append(node(310, mid, id, 'self'));
  if (!dependencies.length && !dependents.length) {
    root.append(svg('text', { x: 310, y: mid + 30, 'text-anchor': 'middle', class: 'muted' }, 'no dependencies, no dependents'));
  }
  return root;
}
