// Small DOM helpers and formats shared by the views.

const SVG_NS = 'http://www.w3.org/2000/svg';

// h builds an HTML element: h('td', {class: 'num', title: 'x'}, child, ...).
// Children are nodes or text (null and undefined are skipped); attributes
// with a null, undefined or false value are left out.
export function h(tag, attrs, ...children) {
  return build(document.createElement(tag), attrs, children);
}

// s builds an SVG element like h.
export function s(tag, attrs, ...children) {
  return build(document.createElementNS(SVG_NS, tag), attrs, children);
}

function build(el, attrs, children) {
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

// clear removes every child of el and appends children.
export function fill(el, ...children) {
  el.replaceChildren();
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

// usd formats an amount of USD for display (the API rounds to 6 decimals;
// small amounts keep 4 of them).
export function usd(v) {
  if (v === null || v === undefined || Number.isNaN(v)) return '—';
  const small = Math.abs(v) > 0 && Math.abs(v) < 1;
  return new Intl.NumberFormat('en-US', {
    style: 'currency', currency: 'USD', minimumFractionDigits: 2, maximumFractionDigits: small ? 4 : 2,
  }).format(v);
}

// usdShort formats an axis tick: $1.2k, $12, $0.05.
export function usdShort(v) {
  if (Math.abs(v) >= 1000) return '$' + (v / 1000).toFixed(v >= 10000 ? 0 : 1) + 'k';
  if (Math.abs(v) >= 10 || v === 0) return '$' + Math.round(v);
  if (Math.abs(v) >= 1) return '$' + v.toFixed(1).replace(/\.0$/, '');
  return '$' + v.toPrecision(2).replace(/0+$/, '');
}

const dateTime = new Intl.DateTimeFormat(undefined, {
  year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', second: '2-digit',
});

// time returns a <time> element of an RFC 3339 instant in local time, or a
// dash.
export function time(iso) {
  if (!iso) return '—';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return h('time', { datetime: iso, title: iso }, dateTime.format(d));
}

export function pct(v) {
  if (v === null || v === undefined) return '—';
  return (v * 100).toFixed(v >= 0.995 || v < 0.1 ? 1 : 0) + '%';
}

export function seconds(v) {
  if (!v) return '—';
  return v >= 120 ? (v / 60).toFixed(1) + ' min' : v.toFixed(v < 10 ? 1 : 0) + ' s';
}

// badge is a status shown as text in a coloured pill.
export function badge(status) {
  return h('span', { class: 'badge badge-' + String(status || 'unknown').replace(/[^a-z_]/g, '') }, status || '—');
}

// safeLink returns a link to url when it is http(s), else the text.
export function safeLink(url, text) {
  try {
    const u = new URL(url, location.href);
    if (u.protocol === 'https:' || u.protocol === 'http:') {
      return h('a', { href: u.href, target: '_blank', rel: 'noopener noreferrer' }, text || url);
    }
  } catch { /* not a URL */ }
  return text || url || '—';
}

// row returns a <tr> of cells; a cell is a node, text or
// {v: content, class: '...'}.
export function row(attrs, cells) {
  return h('tr', attrs, cells.map((c) => {
    if (c && typeof c === 'object' && !(c instanceof Node) && 'v' in c) return h('td', { class: c.class, title: c.title }, c.v);
    return h('td', null, c);
  }));
}

// summary fills a <dl> with [term, definition] pairs.
export function summary(dl, pairs) {
  fill(dl, pairs.filter(Boolean).flatMap(([t, d]) => [h('dt', null, t), h('dd', null, d)]));
}
