// The loading lifecycle every view follows (the console's DOM contract):
// while a view loads its section is aria-busy="true" and <body> has no
// data-ready; once its data is rendered the section is aria-busy="false"
// and <body data-ready="<view>">. Errors render into a
// <div role="alert" class="error"> in the section. Starting a load aborts
// the one before it, so a late answer never overwrites a newer view.

import { h } from './dom.js';

let current = null;
let unauthorized = () => {};

// onUnauthorized sets what happens on a 401 from the API.
export function onUnauthorized(fn) { unauthorized = fn; }

// abortLoad stops the load in progress, if any.
export function abortLoad() {
  if (current) current.abort();
  current = null;
}

// runLoad runs render(signal) for view in section. render fetches and
// renders; it throws what the API threw.
export async function runLoad(view, section, render) {
  abortLoad();
  const ctrl = new AbortController();
  current = ctrl;
  delete document.body.dataset.ready;
  section.setAttribute('aria-busy', 'true');
  section.querySelectorAll(':scope > .error[role=alert]').forEach((e) => e.remove());
  try {
    await render(ctrl.signal);
    if (ctrl.signal.aborted) return;
    section.setAttribute('aria-busy', 'false');
    document.body.dataset.ready = view;
  } catch (e) {
    if (ctrl.signal.aborted || e.name === 'AbortError') return;
    section.setAttribute('aria-busy', 'false');
    if (e.status === 401) {
      unauthorized(e);
      return;
    }
    showError(section, e);
  } finally {
    if (current === ctrl) current = null;
  }
}

// showError renders err (an ApiError or any Error) into section, after its
// heading.
export function showError(section, err) {
  const text = err.code ? `${err.message} (${err.code}${err.field ? ', field ' + err.field : ''})` : String(err.message || err);
  const box = h('div', { role: 'alert', class: 'error' }, h('strong', null, 'Could not load: '), text);
  const heading = section.querySelector('h1');
  if (heading) heading.after(box); else section.prepend(box);
}
