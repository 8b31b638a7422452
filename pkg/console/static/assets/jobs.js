// The jobs view: GET /v1/jobs with the filters of #job-filters, 50 a page.

import { get } from './api.js';
import { badge, fill, h, row, time, usd } from './dom.js';

export const PAGE_SIZE = 50;
const TERMINAL = new Set(['succeeded', 'failed', 'canceled']);

// state: tokens[i] is the page_token of page i ('' for the first);
// query is the filters of the page on screen or loading (null after a
// failed load: the same filters may be tried again).
const state = { tokens: [''], page: 0, query: null };

// filters reads the form into GET /v1/jobs parameters; since and until are
// datetime-local values (local time) sent as RFC 3339.
function filters(form) {
  const fd = new FormData(form);
  const out = {};
  for (const name of ['status', 'backend', 'error_code', 'user_id']) {
    const v = String(fd.get(name) || '').trim();
    if (v) out[name] = v;
  }
  for (const name of ['since', 'until']) {
    const v = String(fd.get(name) || '');
    const d = v ? new Date(v) : null;
    if (d && !Number.isNaN(d.getTime())) out[name] = d.toISOString();
  }
  return out;
}

function jobRow(j) {
  const cost = j.cost_usd || !j.estimated_cost_usd || TERMINAL.has(j.status)
    ? { v: usd(j.cost_usd), class: 'num' }
    : { v: '≈ ' + usd(j.estimated_cost_usd), class: 'num muted', title: 'estimate: not settled yet' };
  return row({ 'data-job-id': j.id, 'data-status': j.status }, [
    time(j.created_at),
    h('a', { href: '#job/' + encodeURIComponent(j.id), title: j.id, class: 'job-link' }, h('code', null, j.id)),
    badge(j.status),
    (j.request && j.request.quality_tier) || '—',
    j.backend || '—',
    cost,
    j.error ? h('code', { title: j.error.message }, j.error.code) : '—',
    j.user_id || '—',
  ]);
}

async function loadPage(section, signal) {
  const form = section.querySelector('#job-filters');
  const params = { ...filters(form), limit: PAGE_SIZE, page_token: state.tokens[state.page] };
  const body = await get('/v1/jobs', params, signal);
  const jobs = body.jobs || [];
  fill(section.querySelector('#jobs-table tbody'), jobs.map(jobRow));
  section.querySelector('#jobs-empty').hidden = jobs.length > 0;
  state.tokens.length = state.page + 1;
  if (body.next_page_token) state.tokens.push(body.next_page_token);
  section.querySelector('#jobs-next').disabled = !body.next_page_token;
  section.querySelector('#jobs-prev').disabled = state.page === 0;
  section.querySelector('#jobs-page').textContent = `Page ${state.page + 1}` + (jobs.length ? ` · ${jobs.length} jobs` : '');
}

// loadQuery loads the page for the filters on screen, remembering them.
async function loadQuery(section, signal) {
  state.query = JSON.stringify(filters(section.querySelector('#job-filters')));
  try {
    await loadPage(section, signal);
  } catch (e) {
    state.query = null;
    throw e;
  }
}

export const jobsView = {
  init(section, reload) {
    const form = section.querySelector('#job-filters');
    // A changed filter reloads page 1; Enter in a field (a change, then a
    // submit) loads once.
    const changed = () => {
      if (JSON.stringify(filters(form)) === state.query) return;
      state.tokens = [''];
      state.page = 0;
      reload((signal) => loadQuery(section, signal));
    };
    form.addEventListener('change', changed);
    form.addEventListener('submit', (ev) => { ev.preventDefault(); changed(); });
    form.addEventListener('reset', () => setTimeout(changed)); // after the form is reset
    section.querySelector('#jobs-next').addEventListener('click', () => {
      if (state.page + 1 >= state.tokens.length) return;
      state.page++;
      reload((signal) => loadQuery(section, signal));
    });
    section.querySelector('#jobs-prev').addEventListener('click', () => {
      if (state.page === 0) return;
      state.page--;
      reload((signal) => loadQuery(section, signal));
    });
  },
  load(section, _arg, signal) { return loadQuery(section, signal); },
  reset() {
    state.tokens = [''];
    state.page = 0;
    document.querySelector('#job-filters').reset();
    state.query = JSON.stringify({}); // the reset form: nothing to reload

  },
};
