// The budget view: GET /v1/budget and the month's forecast, GET /v1/forecast.

import { get } from './api.js';
import { forecastChart } from './charts.js';
import { summary, time, usd } from './dom.js';

const SOURCES = { project: "the project's own limit", default: "the services' default limit", none: 'no limit' };

export const budgetView = {
  init() {},
  async load(section, _arg, signal) {
    const [b, f] = await Promise.all([get('/v1/budget', null, signal), get('/v1/forecast', null, signal)]);
    const limited = b.limit_usd !== null && b.limit_usd !== undefined;
    summary(section.querySelector('#budget-summary'), [
      ['Limit', limited ? usd(b.limit_usd) : 'none'],
      ['Spent', usd(b.spent_usd)],
      ['Reserved', usd(b.reserved_usd)],
      ['Period', b.period],
      ['Limit source', SOURCES[b.limit_source] || b.limit_source || '—'],
      ['Projected this month', `${usd(f.projected_usd)} (${usd(f.low_usd)} to ${usd(f.high_usd)})`],
      ['Limit reached', f.exhaustion_at ? time(f.exhaustion_at) : 'not this month'],
    ]);
    forecastChart(section.querySelector('#chart-forecast'), f);
  },
};
