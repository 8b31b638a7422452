// Charts drawn as plain SVG: bar charts, the budget forecast (a line chart
// with an interval band) and a trace waterfall. Every data mark (rect,
// path, circle) carries data-value and a <title> tooltip, and every chart
// is followed by a visually hidden <table class="chart-data"> of the same
// numbers.

import { fill, h, s, usd, usdShort } from './dom.js';

// widthOf is the width to draw el at: its box's width in CSS pixels, so
// that text keeps its size (the SVG still scales if the box changes).
function widthOf(el) {
  return Math.round(Math.min(1400, Math.max(300, el.clientWidth || (el.parentElement && el.parentElement.clientWidth) || 640)));
}

// ticks returns about n round values from 0 to at least max.
function ticks(max, n) {
  if (!(max > 0)) return [0, 1];
  const raw = max / n;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((st) => st >= raw);
  const out = [];
  for (let v = 0; v < max + step / 2; v += step) out.push(Number(v.toPrecision(12)));
  if (out[out.length - 1] < max) out.push(out[out.length - 1] + step);
  return out;
}

// dataTable puts the numbers of a chart in a visually hidden table right
// after svg, replacing the one before.
function dataTable(svg, caption, head, rows) {
  const next = svg.nextElementSibling;
  if (next && next.matches('.chart-data-box')) next.remove();
  // The box hides the table (overflow does not apply to a table itself).
  svg.after(h('div', { class: 'chart-data-box visually-hidden' }, h('table', { class: 'chart-data' },
    h('caption', null, caption),
    h('thead', null, h('tr', null, head.map((c) => h('th', { scope: 'col' }, c)))),
    h('tbody', null, rows.map((r) => h('tr', null, r.map((c, i) => (i === 0 ? h('th', { scope: 'row' }, c) : h('td', null, c)))))))));
}

function empty(svg, W, height, text) {
  svg.append(s('text', { x: W / 2, y: height / 2, class: 'empty-text', 'text-anchor': 'middle' }, text));
}

// barChart draws items ({label, value, detail}) as bars: vertical (one per
// day) or horizontal (ranked names).
export function barChart(svg, items, opts) {
  const horizontal = !!opts.horizontal;
  const W = widthOf(svg);
  const height = horizontal ? Math.max(120, 40 + items.length * 26) : 260;
  svg.setAttribute('viewBox', `0 0 ${W} ${height}`);
  svg.dataset.count = String(items.length);
  fill(svg);
  const max = Math.max(0, ...items.map((d) => d.value));
  dataTable(svg, opts.title, [opts.keyName, 'Cost (USD)', 'Jobs'], items.map((d) => [d.key || d.label, usd(d.value), d.detail || '']));
  if (!items.length || max <= 0) {
    empty(svg, W, height, 'No cost in this range');
    if (!items.length) return;
  }
  (horizontal ? horizontalBars : verticalBars)(svg, items, ticks(max, W < 500 ? 3 : 4), W, height);
}

function bar(d, x, y, w, hgt) {
  return s('rect', { x, y, width: Math.max(0, w), height: Math.max(0, hgt), class: 'bar', 'data-value': d.value, 'data-key': d.key, tabindex: null },
    s('title', null, `${d.key || d.label}: ${usd(d.value)}${d.detail ? ' · ' + d.detail : ''}`));
}

function verticalBars(svg, items, tk, W, height) {
  const m = { l: 48, r: 8, t: 12, b: 28 };
  const iw = W - m.l - m.r;
  const ih = height - m.t - m.b;
  const top = tk[tk.length - 1];
  const y = (v) => m.t + ih - (v / top) * ih;
  for (const v of tk) {
    svg.append(s('line', { x1: m.l, x2: W - m.r, y1: y(v), y2: y(v), class: 'grid' }),
      s('text', { x: m.l - 6, y: y(v) + 4, class: 'tick', 'text-anchor': 'end' }, usdShort(v)));
  }
  const step = iw / items.length;
  const bw = Math.max(1, step * 0.7);
  const every = Math.ceil(items.length / Math.max(3, Math.floor(iw / 60)));
  items.forEach((d, i) => {
    const x = m.l + i * step + (step - bw) / 2;
    svg.append(bar(d, x, y(d.value), bw, m.t + ih - y(d.value)));
    if (i % every === 0) svg.append(s('text', { x: x + bw / 2, y: height - 8, class: 'tick', 'text-anchor': 'middle' }, d.label));
  });
  svg.append(s('line', { x1: m.l, x2: W - m.r, y1: m.t + ih, y2: m.t + ih, class: 'axis' }));
}

function horizontalBars(svg, items, tk, W, height) {
  const m = { l: W < 500 ? 96 : 150, r: 70, t: 8, b: 24 };
  const maxChars = W < 500 ? 13 : 22;
  const iw = W - m.l - m.r;
  const top = tk[tk.length - 1];
  const x = (v) => m.l + (v / top) * iw;
  for (const v of tk) {
    svg.append(s('line', { x1: x(v), x2: x(v), y1: m.t, y2: height - m.b, class: 'grid' }),
      s('text', { x: x(v), y: height - 6, class: 'tick', 'text-anchor': 'middle' }, usdShort(v)));
  }
  items.forEach((d, i) => {
    const yy = m.t + i * 26 + 4;
    const label = d.label.length > maxChars ? d.label.slice(0, maxChars - 1) + '…' : d.label;
    svg.append(s('text', { x: m.l - 8, y: yy + 14, class: 'label', 'text-anchor': 'end' }, label),
      bar(d, m.l, yy, x(d.value) - m.l, 18),
      s('text', { x: x(d.value) + 6, y: yy + 14, class: 'value' }, usd(d.value)));
  });
}

// cumulative returns the running sums of the forecast's days.
function cumulative(daily) {
  let t = 0;
  return daily.map((d) => { t += d.cost_usd; return t; });
}

// forecastChart draws the month: cumulative spend of the past days, the
// projection to the end of the month with its interval as a band widening
// from today to [low, high] at the end, and the limit.
export function forecastChart(svg, f) {
  const W = widthOf(svg);
  const height = W < 500 ? 240 : 300;
  const m = { l: 56, r: 16, t: 16, b: 30 };
  svg.setAttribute('viewBox', `0 0 ${W} ${height}`);
  fill(svg);
  const daily = f.daily || [];
  const n = daily.length;
  const cum = cumulative(daily);
  const k = daily.filter((d) => !d.forecast).length; // days spent (they come first)
  const limit = f.limit_usd;
  const top = ticks(Math.max(f.high_usd || 0, f.projected_usd || 0, limit || 0, ...cum) * 1.05, 5);
  const ymax = top[top.length - 1];
  const iw = W - m.l - m.r;
  const ih = height - m.t - m.b;
  const x = (i) => m.l + (n ? (i / n) * iw : 0); // i: days elapsed
  const y = (v) => m.t + ih - (v / ymax) * ih;
  for (const v of top) {
    svg.append(s('line', { x1: m.l, x2: W - m.r, y1: y(v), y2: y(v), class: 'grid' }),
      s('text', { x: m.l - 6, y: y(v) + 4, class: 'tick', 'text-anchor': 'end' }, usdShort(v)));
  }
  const every = W < 500 ? 7 : 5;
  daily.forEach((d, i) => {
    // Every few days, and the last unless it would touch the one before.
    if (i % every === 0 || (i === n - 1 && i % every > every / 2)) svg.append(s('text', { x: x(i + 1), y: height - 10, class: 'tick', 'text-anchor': 'middle' }, d.day.slice(8)));
  });
  svg.append(s('line', { x1: m.l, x2: W - m.r, y1: y(0), y2: y(0), class: 'axis' }));
  if (!n) {
    empty(svg, W, height, 'No forecast for this period');
    return;
  }
  drawProjection(svg, f, cum, k, x, y);
  drawActual(svg, daily, cum, k, x, y);
  if (limit !== null && limit !== undefined) {
    svg.append(s('line', { x1: m.l, x2: W - m.r, y1: y(limit), y2: y(limit), class: 'limit', 'data-value': limit },
      s('title', null, `limit ${usd(limit)}`)),
    s('text', { x: m.l + 6, y: y(limit) - 6, class: 'limit-label' }, `limit ${usd(limit)}`));
  }
  if (f.exhaustion_at) {
    const day = f.exhaustion_at.slice(0, 10);
    const i = daily.findIndex((d) => d.day === day);
    if (i >= 0) svg.append(s('line', { x1: x(i + 1), x2: x(i + 1), y1: m.t, y2: m.t + ih, class: 'exhaustion' }, s('title', null, `limit reached ${f.exhaustion_at}`)));
  }
  dataTable(svg, 'Spend by day this month', ['Day', 'Cost (USD)', 'Cumulative (USD)', 'Kind'],
    daily.map((d, i) => [d.day, usd(d.cost_usd), usd(cum[i]), d.forecast ? 'forecast' : 'actual']));
}

function drawActual(svg, daily, cum, k, x, y) {
  if (!k) return;
  const pts = [[x(0), y(0)], ...cum.slice(0, k).map((v, i) => [x(i + 1), y(v)])];
  svg.append(s('path', { d: 'M' + pts.map((p) => p.join(',')).join('L'), class: 'actual', 'data-value': cum[k - 1] },
    s('title', null, `spent ${usd(cum[k - 1])} to ${daily[k - 1].day}`)));
  cum.slice(0, k).forEach((v, i) => svg.append(s('circle', { cx: x(i + 1), cy: y(v), r: 3, class: 'actual-point', 'data-value': v, 'data-day': daily[i].day },
    s('title', null, `${daily[i].day}: ${usd(daily[i].cost_usd)} spent, ${usd(v)} this month`))));
}

function drawProjection(svg, f, cum, k, x, y) {
  const n = cum.length;
  if (k >= n) return;
  const start = k ? cum[k - 1] : 0;
  const proj = f.projected_usd;
  const span = n - k;
  // The band widens from today's spend to [low, high] at the month's end.
  const lo = (i) => cum[i] - (proj - f.low_usd) * ((i + 1 - k) / span);
  const hi = (i) => cum[i] + (f.high_usd - proj) * ((i + 1 - k) / span);
  const idx = Array.from({ length: span }, (_, j) => k + j);
  const upper = [[x(k), y(start)], ...idx.map((i) => [x(i + 1), y(hi(i))])];
  const lower = idx.map((i) => [x(i + 1), y(Math.max(0, lo(i)))]).reverse();
  svg.append(s('path', { d: 'M' + [...upper, ...lower].map((p) => p.join(',')).join('L') + 'Z', class: 'band', 'data-value': f.high_usd, 'data-low': f.low_usd },
    s('title', null, `about 90% likely between ${usd(f.low_usd)} and ${usd(f.high_usd)} by the month's end`)));
  const line = [[x(k), y(start)], ...idx.map((i) => [x(i + 1), y(cum[i])])];
  svg.append(s('path', { d: 'M' + line.map((p) => p.join(',')).join('L'), class: 'projection', 'data-value': proj },
    s('title', null, `projected ${usd(proj)} by the month's end`)));
  svg.append(s('circle', { cx: x(n), cy: y(cum[n - 1]), r: 4, class: 'projection-point', 'data-value': proj },
    s('title', null, `projected ${usd(proj)} (${usd(f.low_usd)} to ${usd(f.high_usd)})`)));
}

// waterfall draws a trace's spans as bars on a time axis, in start order,
// indented by depth.
export function waterfall(box, spans) {
  fill(box);
  if (!spans.length) {
    box.append(h('p', { class: 'empty' }, 'No spans kept for this trace.'));
    return;
  }
  const t0 = Math.min(...spans.map((sp) => Date.parse(sp.start)));
  const t1 = Math.max(...spans.map((sp) => Date.parse(sp.end)));
  const total = Math.max(1, t1 - t0);
  const depth = new Map();
  const byId = new Map(spans.map((sp) => [sp.span_id, sp]));
  const depthOf = (sp) => {
    if (depth.has(sp.span_id)) return depth.get(sp.span_id);
    depth.set(sp.span_id, 0); // cycles stay flat
    const p = sp.parent_span_id && byId.get(sp.parent_span_id);
    const d = p ? depthOf(p) + 1 : 0;
    depth.set(sp.span_id, d);
    return d;
  };
  const W = widthOf(box);
  const rowH = 22;
  const lw = W < 500 ? 130 : 260;
  const maxChars = W < 500 ? 16 : 34;
  const height = spans.length * rowH + 24;
  const svg = s('svg', { viewBox: `0 0 ${W} ${height}`, role: 'img', 'aria-label': 'Spans of the trace on a time axis', class: 'waterfall' });
  const x = (t) => lw + ((t - t0) / total) * (W - lw - 8);
  spans.forEach((sp, i) => {
    const a = Date.parse(sp.start);
    const b = Date.parse(sp.end);
    const yy = i * rowH + 4;
    const name = sp.name.length > maxChars ? sp.name.slice(0, maxChars - 1) + '…' : sp.name;
    svg.append(s('text', { x: 4 + 10 * Math.min(depthOf(sp), 6), y: yy + 14, class: 'label' }, name),
      s('rect', { x: x(a), y: yy + 3, width: Math.max(1.5, x(b) - x(a)), height: 14, class: 'span span-' + sp.status, 'data-value': b - a },
        s('title', null, `${sp.name} (${sp.kind}): ${b - a} ms${sp.error ? ' · ' + sp.error : ''}`)));
  });
  svg.append(s('text', { x: W - 8, y: height - 4, class: 'tick', 'text-anchor': 'end' }, `${total} ms`));
  box.append(svg);
  dataTable(svg, 'Spans of the trace', ['Span', 'Kind', 'Duration', 'Status'],
    spans.map((sp) => [sp.name, sp.kind, `${Date.parse(sp.end) - Date.parse(sp.start)} ms`, sp.status]));
}
