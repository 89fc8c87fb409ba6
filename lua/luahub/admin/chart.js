// A line chart drawn as SVG: a window of the latest samples per series, a zero-based
// y-axis rounded up to a readable maximum, and a text legend with each series' current
// value (what a screen reader gets, through the svg's aria-labelledby).
const SVG = 'http://www.w3.org/2000/svg';
const LEFT = 44, TOP = 8, BOTTOM = 6;

// The smallest 1, 2 or 5 times a power of ten at or above v (at least 1): gridlines
// land on round numbers.
function niceMax(v) {
  if (!(v > 1)) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

// An axis label: gridlines fall on halves of the maximum, so one decimal at most.
const tick = (v) => (Number.isInteger(v) ? String(v) : v.toFixed(1));

function el(name, attrs, text) {
  const e = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}

// series: [{ name, cls ('s1'..'s4'), points: [numbers, oldest first] }]; window: how many
// samples span the width; format(v): a current value as the legend shows it.
export function drawChart(svg, legend, series, window, format) {
  const width = Math.max(svg.clientWidth || 0, 200), height = svg.clientHeight || 140;
  const max = niceMax(Math.max(0, ...series.flatMap((s) => s.points)));
  const plotW = width - LEFT - 4, plotH = height - TOP - BOTTOM;
  const x = (i, n) => LEFT + plotW * (window - n + i) / (window - 1);
  const y = (v) => TOP + plotH * (1 - v / max);
  svg.setAttribute('viewBox', `0 0 ${width} ${height}`);
  svg.replaceChildren();
  for (const frac of [0, 0.5, 1]) {
    const gy = y(max * frac);
    svg.append(el('line', { class: 'grid', x1: LEFT, x2: width - 4, y1: gy, y2: gy }));
    svg.append(el('text', { class: 'axis', x: LEFT - 6, y: gy + 4, 'text-anchor': 'end' }, tick(max * frac)));
  }
  for (const s of series) {
    const n = s.points.length;
    if (n < 2) continue;
    const pts = s.points.map((v, i) => `${x(i, n).toFixed(1)},${y(v).toFixed(1)}`).join(' ');
    svg.append(el('polyline', { class: `series ${s.cls}`, points: pts }));
  }
  legend.replaceChildren(...series.map((s) => {
    const item = document.createElement('span');
    const swatch = document.createElement('span');
    swatch.className = `swatch ${s.cls}`;
    swatch.setAttribute('aria-hidden', 'true');
    const last = s.points.length ? s.points[s.points.length - 1] : 0;
    item.append(swatch, `${s.name}: ${format(last)}`);
    return item;
  }));
}
