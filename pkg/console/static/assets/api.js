// The API client of the console: the key lives in sessionStorage and
// travels only in the Authorization header, never in a URL.

const KEY = 'aiprod.key';

export function getKey() {
  try { return sessionStorage.getItem(KEY) || ''; } catch { return ''; }
}

export function setKey(key) { sessionStorage.setItem(KEY, key); }

export function clearKey() { sessionStorage.removeItem(KEY); }

// ApiError is an answer of the API that is not a success, or a failure to
// reach it (status 0).
export class ApiError extends Error {
  constructor(status, code, message, field) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.field = field || '';
  }
}

// query returns "?a=b&..." for the non-empty values of params, or "".
export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params || {})) {
    if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
  }
  const s = q.toString();
  return s ? '?' + s : '';
}

// get fetches path (with params) from the API with the key and returns its
// JSON body; any other answer throws an ApiError. signal aborts it.
export async function get(path, params, signal) {
  let res;
  try {
    res = await fetch(path + query(params), {
      headers: { Authorization: 'Bearer ' + getKey(), Accept: 'application/json' },
      cache: 'no-store',
      credentials: 'same-origin',
      referrerPolicy: 'no-referrer',
      signal,
    });
  } catch (e) {
    if (e.name === 'AbortError') throw e;
    throw new ApiError(0, 'network', 'The API did not answer: ' + e.message);
  }
  let body = null;
  try { body = await res.json(); } catch (e) {
    if (e.name === 'AbortError') throw e;
  }
  if (signal) signal.throwIfAborted();
  if (!res.ok) {
    const err = (body && body.error) || {};
    throw new ApiError(res.status, err.code || 'http_' + res.status, err.message || res.statusText || 'request failed', err.field);
  }
  if (body === null) throw new ApiError(res.status, 'bad_response', 'The API answered with something other than JSON.');
  return body;
}
