// The console's entry point: login, hash routing and the views.

import { clearKey, getKey, setKey } from './api.js';
import { abortLoad, onUnauthorized, runLoad } from './load.js';
import { backendsView } from './backends.js';
import { budgetView } from './budget.js';
import { jobView } from './job.js';
import { jobsView } from './jobs.js';
import { recommendationsView } from './recommendations.js';
import { usageView } from './usage.js';

// views by name: init(section) once, load(section, arg, signal) per visit.
const views = {
  jobs: jobsView,
  job: jobView,
  backends: backendsView,
  usage: usageView,
  budget: budgetView,
  recommendations: recommendationsView,
};

const $ = (sel) => document.querySelector(sel);
const sections = () => document.querySelectorAll('main > section[data-view]');
const sectionOf = (name) => document.querySelector(`main > section[data-view="${name}"]`);

// parseHash reads the route: #jobs, #job/<id>, ...; anything else is jobs.
function parseHash(hash) {
  const h = hash.replace(/^#/, '');
  if (h.startsWith('job/') && h.length > 4) return { name: 'job', arg: decodeURIComponent(h.slice(4)) };
  if (Object.hasOwn(views, h) && h !== 'job') return { name: h, arg: '' };
  return { name: 'jobs', arg: '' };
}

function showLogin(message) {
  abortLoad();
  delete document.body.dataset.ready;
  sections().forEach((s) => { s.hidden = true; });
  $('#nav').hidden = true;
  $('#logout').hidden = true;
  const form = $('#login');
  form.hidden = false;
  const err = $('#login-error');
  err.textContent = message || '';
  err.hidden = !message;
  $('#login-key').focus();
}

// route shows the view the hash names and loads it; focus moves to its
// heading when the user navigated (not on the first load).
function route(moveFocus) {
  if (!getKey()) {
    showLogin();
    return;
  }
  $('#login').hidden = true;
  $('#login-error').hidden = true;
  $('#nav').hidden = false;
  $('#logout').hidden = false;
  const { name, arg } = parseHash(location.hash);
  const section = sectionOf(name);
  sections().forEach((s) => { s.hidden = s !== section; });
  const navName = name === 'job' ? 'jobs' : name;
  document.querySelectorAll('#nav a').forEach((a) => {
    if (a.getAttribute('href') === '#' + navName) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  });
  document.title = (name === 'job' ? 'Job ' + arg.slice(0, 8) : name[0].toUpperCase() + name.slice(1)) + ' · AIPROD console';
  if (moveFocus) section.querySelector('h1').focus({ preventScroll: false });
  runLoad(name, section, (signal) => views[name].load(section, arg, signal));
}

function boot() {
  // #key=<api key> logs in; the fragment, which never reaches the server,
  // is removed at once so that it stays out of history and bookmarks.
  if (location.hash.startsWith('#key=')) {
    let key = location.hash.slice(5);
    try { key = decodeURIComponent(key); } catch { /* keep it as it is */ }
    if (key) setKey(key);
    history.replaceState(null, '', location.pathname + location.search);
  }
  onUnauthorized((e) => {
    clearKey();
    showLogin(`The API refused this key (401 ${e.code}): ${e.message}. Enter a valid API key.`);
  });
  $('#login').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const input = $('#login-key');
    const key = input.value.trim();
    if (!key) return;
    setKey(key);
    input.value = '';
    route(true);
  });
  $('#logout').addEventListener('click', () => {
    clearKey();
    jobsView.reset();
    history.replaceState(null, '', location.pathname + location.search);
    showLogin('');
  });
  $('#skip-link').addEventListener('click', (ev) => {
    ev.preventDefault();
    $('#main').focus();
  });
  for (const [name, v] of Object.entries(views)) v.init(sectionOf(name), (render) => runLoad(name, sectionOf(name), render));
  window.addEventListener('hashchange', () => route(true));
  // A link to the view on screen reloads it (no hashchange fires).
  document.querySelector('.top').addEventListener('click', (ev) => {
    const a = ev.target.closest('a[href^="#"]');
    if (a && a.getAttribute('href') === location.hash && !ev.ctrlKey && !ev.metaKey) route(false);
  });
  route(false);
}

boot();
