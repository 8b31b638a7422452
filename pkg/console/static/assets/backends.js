// The backends view: GET /v1/backends.

import { get } from './api.js';
import { badge, fill, h, pct, row, seconds, time, usd } from './dom.js';

function circuitCell(b) {
  const parts = [badge(b.circuit)];
  if (b.consecutive_failures) parts.push(' ', h('span', { class: 'muted' }, `${b.consecutive_failures} failures`));
  if (b.next_probe_at) parts.push(h('div', { class: 'muted small' }, 'probe from ', time(b.next_probe_at)));
  if (b.last_error) parts.push(h('div', { class: 'muted small clip', title: b.last_error }, b.last_error));
  return h('div', null, parts);
}

function priceCell(b) {
  const prices = b.prices || [];
  if (!prices.length) return { v: '—', class: 'num' };
  const min = Math.min(...prices.map((p) => p.per_second_usd));
  const rows = prices.map((p) => `${p.model} (${p.tier}${p.resolution ? ', ' + p.resolution : ''}${p.audio === true ? ', audio' : ''}): ${usd(p.per_second_usd)}/s${p.fixed_usd ? ' + ' + usd(p.fixed_usd) : ''}`);
  return { v: `from ${usd(min)}/s`, class: 'num', title: rows.join('\n') };
}

function backendRow(b) {
  const st = b.stats || {};
  const learned = st.samples > 0;
  return row({ 'data-backend': b.name, 'data-circuit': b.circuit, 'data-enabled': String(b.enabled) }, [
    h('span', null, h('strong', null, b.name), b.provider && b.provider !== b.name ? h('span', { class: 'muted small' }, ' ' + b.provider) : null),
    b.enabled ? 'yes' : badge('drained'),
    circuitCell(b),
    { v: b.in_flight === undefined || b.in_flight === null ? '—' : `${b.in_flight} / ${b.concurrency}`, class: 'num', title: b.concurrency ? `at most ${b.concurrency} at once` : 'no concurrency cap' },
    { v: pct(st.success_rate), class: learned ? 'num' : 'num muted', title: learned ? null : 'prior: no samples yet' },
    { v: seconds(st.p50_seconds), class: learned ? 'num' : 'num muted' },
    { v: seconds(st.p95_seconds), class: learned ? 'num' : 'num muted' },
    { v: (st.samples || 0).toLocaleString(), class: 'num' },
    priceCell(b),
  ]);
}

export const backendsView = {
  init() {},
  async load(section, _arg, signal) {
    const body = await get('/v1/backends', null, signal);
    fill(section.querySelector('#backends-table tbody'), (body.backends || []).map(backendRow));
  },
};
