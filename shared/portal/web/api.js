// A small client of the Gancho API: every call is an ordinary API call with the
// portal link's token as a bearer credential, to this deployment's own origin.

export class APIError extends Error {
  constructor(status, problem) {
    super((problem && (problem.detail || problem.title)) || `HTTP ${status}`);
    this.status = status;
    this.problem = problem || {};
  }
  // fields maps each named field (its first segment: "events/0" and "events[0]" are
  // "events") to its messages.
  get fields() {
    const out = {};
    for (const e of this.problem.errors || []) {
      const name = String(e.field || '').split(/[/.[]/)[0];
      (out[name] ||= []).push(e.message);
    }
    return out;
  }
}

export function client(token, onUnauthorized) {
  async function call(method, path, body) {
    const headers = { Authorization: `Bearer ${token}`, Accept: 'application/json' };
    const init = { method, headers, cache: 'no-store', credentials: 'omit', referrerPolicy: 'no-referrer' };
    if (body !== undefined) {
      headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    const res = await fetch(new URL(`../v1/${path}`, import.meta.url), init);
    const text = res.status === 204 ? '' : await res.text();
    let data = null;
    try { data = text ? JSON.parse(text) : null; } catch { data = { detail: text }; }
    if (!res.ok) {
      const err = new APIError(res.status, data);
      if (res.status === 401 && onUnauthorized) onUnauthorized(err);
      throw err;
    }
    return data;
  }
  return {
    get: (p) => call('GET', p),
    post: (p, b) => call('POST', p, b),
    patch: (p, b) => call('PATCH', p, b),
    del: (p) => call('DELETE', p),
    // all reads up to maxPages pages of a list; truncated tells whether more remain.
    async all(p, maxPages = 5) {
      const items = [];
      let cursor = null;
      for (let i = 0; i < maxPages; i++) {
        const sep = p.includes('?') ? '&' : '?';
        const page = await call('GET', p + sep + 'limit=100' + (cursor ? '&cursor=' + encodeURIComponent(cursor) : ''));
        items.push(...(page.data || []));
        cursor = page.nextCursor;
        if (!cursor) return { items, truncated: false };
      }
      return { items, truncated: true };
    },
  };
}
