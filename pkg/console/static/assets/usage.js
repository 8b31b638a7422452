// The usage view: GET /v1/usage grouped by day, backend and user over the
// range of #usage-range (this month by default), as bar charts.

import { get } from './api.js';
import { barChart } from './charts.js';
import { usd } from './dom.js';

const MAX_BARS = 15; // backends and users past it are summed as "others"

const isoDay = (d) => d.toISOString().slice(0, 10);

// monthToDate is the default range: the first of this month (UTC) to today.
function monthToDate() {
  const now = new Date();
  return { from: isoDay(new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1))), to: isoDay(now) };
}

// everyDay lists the days from..to (yyyy-mm-dd, inclusive), at most 366.
function everyDay(from, to) {
  const out = [];
  for (let d = new Date(from + 'T00:00:00Z'); isoDay(d) <= to && out.length < 366; d.setUTCDate(d.getUTCDate() + 1)) out.push(isoDay(d));
  return out;
}

const counts = (g) => `${g.jobs} jobs, ${g.succeeded} succeeded, ${g.failed} failed`;

function byDay(groups, from, to) {
  const got = new Map(groups.map((g) => [g.key, g]));
  return everyDay(from, to).map((day) => {
    const g = got.get(day) || { key: day, jobs: 0, succeeded: 0, failed: 0, cost_usd: 0 };
    return { label: day.slice(5), key: day, value: g.cost_usd, detail: counts(g) };
  });
}

// ranked lists the groups by cost, the tail past MAX_BARS summed.
function ranked(groups, name) {
  const sorted = groups.slice().sort((a, b) => b.cost_usd - a.cost_usd);
  const out = sorted.slice(0, MAX_BARS).map((g) => ({ label: g.key || name(g.key), key: g.key, value: g.cost_usd, detail: counts(g) }));
  const rest = sorted.slice(MAX_BARS);
  if (rest.length) {
    const sum = (f) => rest.reduce((t, g) => t + g[f], 0);
    out.push({ label: `${rest.length} others`, key: '', value: sum('cost_usd'), detail: `${sum('jobs')} jobs` });
  }
  return out;
}

async function load(section, _arg, signal) {
  const form = section.querySelector('#usage-range');
  if (!form.elements.from.value || !form.elements.to.value) {
    const d = monthToDate();
    form.elements.from.value = form.elements.from.value || d.from;
    form.elements.to.value = form.elements.to.value || d.to;
  }
  const from = form.elements.from.value;
  const to = form.elements.to.value;
  const [day, backend, user] = await Promise.all(['day', 'backend', 'user'].map(
    (g) => get('/v1/usage', { from, to, group_by: g }, signal)));
  section.querySelector('#usage-total').textContent = `${usd(day.total_cost_usd)} from ${from} to ${to}`;
  barChart(section.querySelector('#chart-cost-by-day'), byDay(day.groups || [], from, to), { title: 'Cost by day', keyName: 'Day' });
  barChart(section.querySelector('#chart-cost-by-backend'), ranked(backend.groups || [], () => '(none)'), { title: 'Cost by backend', keyName: 'Backend', horizontal: true });
  barChart(section.querySelector('#chart-cost-by-user'), ranked(user.groups || [], () => '(no user)'), { title: 'Cost by user', keyName: 'User', horizontal: true });
}

export const usageView = {
  init(section, reload) {
    section.querySelector('#usage-range').addEventListener('submit', (ev) => {
      ev.preventDefault();
      reload((signal) => load(section, '', signal));
    });
  },
  load,
};
