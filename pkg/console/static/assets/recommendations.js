// The recommendations view: GET /v1/recommendations.

import { get } from './api.js';
import { fill, h, usd } from './dom.js';

const KINDS = { tier: 'quality tier', backend_mix: 'backend mix', commitment: 'commitment' };

export const recommendationsView = {
  init() {},
  async load(section, _arg, signal) {
    const body = await get('/v1/recommendations', null, signal);
    const recs = (body.recommendations || []).slice().sort((a, b) => b.savings_usd_month - a.savings_usd_month);
    fill(section.querySelector('#recommendations-list'), recs.map((r) => h('li', { 'data-kind': r.kind },
      h('p', { class: 'saving' }, 'Save ', h('strong', { 'data-value': r.savings_usd_month }, usd(r.savings_usd_month)), ' a month'),
      h('p', null, r.message),
      h('p', { class: 'muted small' }, KINDS[r.kind] || String(r.kind).replace(/_/g, ' ')),
    )));
    section.querySelector('#recommendations-empty').hidden = recs.length > 0;
  },
};
