// A job's view: GET /v1/jobs/{id} and its timeline, GET /v1/jobs/{id}/events,
// with the trace id linked to the spans the dev stack keeps
// (GET /v1/jobs/{id}/spans, drawn here as a waterfall) or to Cloud Trace.

import { ApiError, get } from './api.js';
import { badge, fill, h, row, safeLink, summary, time, usd } from './dom.js';
import { waterfall } from './charts.js';

const SCOPE_AIPROD = 'github.com/aiprod/aiprod'; // AIPROD's own spans, as `aiprod trace` shows them
const CLOUD_TRACE = 'https://console.cloud.google.com/traces/list?tid=';

// spans are the spans of the job on screen, when the API serves them.
let spans = null;

// traceLink is the trace id as text, linked to where its spans are.
function traceLink(jobId, traceId, local) {
  if (!traceId) return '—';
  const code = h('code', { class: 'trace-id' }, traceId);
  if (local) {
    return h('a', { class: 'trace-link', href: `/v1/jobs/${encodeURIComponent(jobId)}/spans`, 'data-local': 'true', title: 'Show the trace' }, code);
  }
  return h('a', { class: 'trace-link', href: CLOUD_TRACE + encodeURIComponent(traceId), target: '_blank', rel: 'noopener noreferrer', title: 'Open in Cloud Trace' }, code);
}

function errorText(e) { return e ? h('span', null, h('code', null, e.code), ': ', e.message) : '—'; }

function renderSummary(section, j, local) {
  const r = j.request || {};
  summary(section.querySelector('#job-summary'), [
    ['Status', badge(j.status)],
    ['Tier', r.quality_tier || '—'],
    ['Backend', j.backend || '—'],
    ['Cost', usd(j.cost_usd)],
    ['Estimate', usd(j.estimated_cost_usd)],
    ['Error', errorText(j.error)],
    ['Created', time(j.created_at)],
    ['Updated', time(j.updated_at)],
    j.completed_at && ['Completed', time(j.completed_at)],
    ['User', j.user_id || '—'],
    ['Request', `${r.duration_seconds || '?'} s, ${r.resolution || ''} ${r.aspect_ratio || ''}${r.audio ? ', audio' : ''}`],
    ['Prompt', h('span', { class: 'prompt' }, r.prompt || '—')],
    j.result && ['Video', safeLink(j.result.video_url, 'the video')],
    ['Trace', traceLink(j.id, j.trace_id, local)],
  ]);
}

function renderAttempts(section, j) {
  fill(section.querySelector('#attempts tbody'), (j.attempts || []).map((a) => row({ 'data-attempt': a.attempt }, [
    { v: a.attempt, class: 'num' }, a.backend, a.model || '—', badge(a.status),
    { v: usd(a.estimated_cost_usd), class: 'num' }, { v: usd(a.cost_usd), class: 'num' },
    time(a.started_at), time(a.ended_at), { v: errorText(a.error), class: 'message' },
  ])));
}

function renderTimeline(section, j, events, local) {
  fill(section.querySelector('#timeline tbody'), events.map((e) => row({ 'data-event-type': e.type, 'data-stage': e.stage }, [
    time(e.at), e.stage || '—', h('code', null, e.type), e.backend || '—',
    { v: e.attempt || '—', class: 'num' }, { v: e.message || '—', class: 'message' },
    traceLink(j.id, e.trace_id || j.trace_id, local),
  ])));
}

// probeSpans answers the job's spans when the API serves them (the dev
// stack), else null.
async function probeSpans(id, signal) {
  try {
    return (await get(`/v1/jobs/${encodeURIComponent(id)}/spans`, null, signal)).spans || [];
  } catch (e) {
    if (e.name === 'AbortError' || (e instanceof ApiError && e.status === 401)) throw e;
    return null;
  }
}

// drawSpans draws the trace: AIPROD's spans, and the client libraries'
// (Firestore, Pub/Sub) too when asked.
function drawSpans(section) {
  const all = section.querySelector('#spans-all').checked;
  section.querySelector('#spans-library-count').textContent = String(spans.filter((sp) => sp.scope !== SCOPE_AIPROD).length);
  waterfall(section.querySelector('#spans-chart'), all ? spans : spans.filter((sp) => sp.scope === SCOPE_AIPROD));
}

async function load(section, id, signal) {
  const path = `/v1/jobs/${encodeURIComponent(id)}`;
  section.querySelector('#job-id').textContent = id;
  section.querySelector('#spans').hidden = true;
  for (const sel of ['#job-summary', '#attempts tbody', '#timeline tbody']) fill(section.querySelector(sel));
  const [j, ev, sp] = await Promise.all([get(path, null, signal), get(path + '/events', null, signal), probeSpans(id, signal)]);
  spans = sp;
  const local = sp !== null;
  renderSummary(section, j, local);
  renderAttempts(section, j);
  renderTimeline(section, j, ev.events || [], local);
}

export const jobView = {
  init(section) {
    // A trace link to the API's spans would be refused without the key:
    // draw them here instead.
    section.addEventListener('click', (ev) => {
      const a = ev.target.closest('a.trace-link[data-local]');
      if (!a || !spans || ev.ctrlKey || ev.metaKey || ev.shiftKey) return;
      ev.preventDefault();
      const box = section.querySelector('#spans');
      box.hidden = false; // first: the chart is drawn at the width of its box
      drawSpans(section);
      box.querySelector('h2').focus();
    });
    section.querySelector('#spans-all').addEventListener('change', () => drawSpans(section));
  },
  load,
};
