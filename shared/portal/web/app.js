// The customer portal: one owner's subscriptions, the event catalog and the
// deliveries, through the API with the portal link's token. The token arrives in the
// URL fragment (never sent to a server), is kept in this tab's sessionStorage and
// removed from the address bar at once.
import { client, APIError } from './api.js';
import { chart, hourly } from './chart.js';
import { example } from './example.js';

const STORE = 'gancho.portal';
const MAX_SUBS = 20; // subscriptions whose deliveries the lists and the chart read
const STATUSES = ['pending', 'retrying', 'delivered', 'failed', 'cancelled'];

const $ = (sel) => document.querySelector(sel);

// h builds an element; strings become text nodes (nothing is parsed as markup).
function h(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else if (k === 'class') e.className = v;
    else e.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) if (c !== null && c !== undefined && c !== false) e.append(c instanceof Node ? c : String(c));
  return e;
}

const fmtTime = (t) => (t ? new Date(t).toLocaleString() : '');
const json = (v) => JSON.stringify(v, null, 2);
const badge = (text, kind) => h('span', { class: `badge ${kind || text}` }, text);

function session() {
  const frag = new URLSearchParams(location.hash.slice(1));
  if (frag.get('token')) {
    const s = { token: frag.get('token'), provider: frag.get('provider') || '' };
    sessionStorage.setItem(STORE, JSON.stringify(s));
    history.replaceState(null, '', location.pathname + location.search);
    return s;
  }
  try { return JSON.parse(sessionStorage.getItem(STORE) || 'null'); } catch { return null; }
}

const state = { s: null, api: null, provider: 'your provider', catalog: null, subs: null, view: 'subscriptions', expired: false };

function say(msg, isError) {
  const st = $('#status');
  st.className = isError ? 'error' : '';
  st.textContent = msg || '';
}

function expired() {
  if (state.expired) return;
  state.expired = true;
  state.viewSeq = (state.viewSeq || 0) + 1;
  sessionStorage.removeItem(STORE);
  $('#tabs').hidden = true;
  say('');
  const v = $('#view');
  v.replaceChildren(h('section', { class: 'expired', 'aria-labelledby': 'expired-title' },
    h('h2', { id: 'expired-title', tabindex: '-1' }, 'This link has expired'),
    h('p', {}, `This link has expired; ask ${state.provider} for a new one.`)));
  $('#expired-title').focus();
}

// Each view drawn bumps viewSeq; a view whose data arrives after another was drawn
// (a slow load, then a click elsewhere) is dropped rather than drawn over it.
const stale = (seq) => seq !== state.viewSeq;

function setView(name) {
  state.view = name;
  state.viewSeq = (state.viewSeq || 0) + 1;
  for (const b of document.querySelectorAll('#tabs button')) {
    if (b.dataset.view === name) b.setAttribute('aria-current', 'page');
    else b.removeAttribute('aria-current');
  }
  say('');
  return ({ subscriptions: showSubscriptions, catalog: showCatalog, deliveries: showDeliveries })[name]();
}

function heading(text, ...extra) {
  return h('div', { class: 'row spread' }, h('h2', { id: 'view-title', tabindex: '-1' }, text), ...extra);
}

function focusTitle() {
  const t = $('#view-title');
  if (t) t.focus();
}

// run disables button while fn runs and reports an error next to it.
async function run(button, fn, where) {
  if (button) button.disabled = true;
  try {
    return await fn();
  } catch (err) {
    if (!(err instanceof APIError && err.status === 401)) {
      const msg = err instanceof APIError ? err.message : 'Something went wrong: ' + err.message;
      if (where) { where.className = 'error'; where.textContent = msg; } else say(msg, true);
    }
  } finally {
    if (button) button.disabled = false;
  }
}

async function loadCatalog(force) {
  if (!state.catalog || force) state.catalog = (await state.api.all('event-types')).items;
  return state.catalog;
}

async function loadSubs() {
  state.subs = (await state.api.all('subscriptions')).items;
  return state.subs;
}

// ---- Subscriptions ----

async function showSubscriptions() {
  const seq = state.viewSeq;
  const v = $('#view');
  v.replaceChildren(heading('Subscriptions', h('button', { class: 'primary', type: 'button', onclick: () => showForm(null) }, 'New subscription')),
    h('p', { class: 'muted' }, 'Loading…'));
  focusTitle();
  const subs = await loadSubs();
  if (stale(seq)) return;
  const list = h('div', { id: 'subscriptions' });
  if (subs.length === 0) {
    list.append(h('div', { class: 'empty' }, h('p', {}, 'No subscriptions yet.'),
      h('p', {}, 'Create one with the URL of your endpoint and the events it should receive; then use “Send test” to check it.')));
  }
  for (const sub of subs) list.append(subscriptionCard(sub));
  v.replaceChildren(v.firstChild, list);
}

function subscriptionCard(sub) {
  const msg = h('p', { class: 'card-status', role: 'status' });
  const secret = h('div', { class: 'secret-box' });
  const status = [];
  if (sub.lastStatusCode) status.push(`last response ${sub.lastStatusCode}`);
  if (sub.lastAttemptAt) status.push(`last attempt ${fmtTime(sub.lastAttemptAt)}`);
  if (sub.consecutiveFailures) status.push(`${sub.consecutiveFailures} consecutive failures`);
  if (sub.disabledReason) status.push(`disabled: ${sub.disabledReason}`);
  const card = h('article', { class: 'card', 'aria-labelledby': `sub-${sub.id}`, 'data-id': sub.id },
    h('div', { class: 'row spread' }, h('h3', { id: `sub-${sub.id}` }, sub.name || sub.url), badge(sub.isActive ? 'active' : 'disabled')),
    h('p', {}, h('code', {}, target(sub))),
    sub.description ? h('p', {}, sub.description) : null,
    h('p', {}, 'Events: ', (sub.events || []).join(', ')),
    status.length ? h('p', { class: 'muted' }, status.join(' · ')) : null,
    h('div', { class: 'row' },
      h('button', { type: 'button', onclick: () => showForm(sub) }, 'Edit'),
      h('button', { type: 'button', onclick: (e) => run(e.target, async () => {
        await state.api.patch(`subscriptions/${sub.id}`, { isActive: !sub.isActive });
        await showSubscriptions();
        say(`${sub.name || sub.url} ${sub.isActive ? 'disabled' : 'enabled'}.`);
      }, msg) }, sub.isActive ? 'Disable' : 'Enable'),
      h('button', { type: 'button', onclick: (e) => run(e.target, async () => {
        const r = await state.api.post(`subscriptions/${sub.id}/test`, {});
        msg.className = '';
        msg.textContent = `Test sent (delivery ${r.deliveryId}); see it under Deliveries.`;
      }, msg) }, 'Send test'),
      h('button', { type: 'button', onclick: (e) => run(e.target, async () => {
        showSecret(secret, await state.api.get(`subscriptions/${sub.id}/secret`), 'Signing secret');
      }, msg) }, 'Reveal secret'),
      h('button', { type: 'button', onclick: (e) => run(e.target, async () => {
        showSecret(secret, await state.api.post(`subscriptions/${sub.id}/secret/rotate`, {}), 'New signing secret');
        msg.className = '';
        msg.textContent = 'Secret rotated: the previous one also signs for 24 hours.';
      }, msg) }, 'Rotate secret'),
      h('button', { type: 'button', onclick: () => { state.filter = { sub: sub.id }; setView('deliveries'); } }, 'Deliveries'),
      deleteButton(sub, msg)),
    secret, msg);
  return card;
}

function showSecret(box, r, label) {
  const parts = [h('p', {}, h('strong', {}, label + ': ')), h('code', { class: 'secret' }, r.secret)];
  if (r.previousValidUntil) parts.push(h('p', { class: 'hint' }, `The previous secret also signs until ${fmtTime(r.previousValidUntil)}.`));
  parts.push(h('button', { type: 'button', onclick: () => box.replaceChildren() }, 'Hide secret'));
  box.replaceChildren(...parts);
}

function deleteButton(sub, msg) {
  const wrap = h('span', { class: 'row' });
  const ask = h('button', { type: 'button', class: 'danger', onclick: () => {
    const confirmBtn = h('button', { type: 'button', class: 'danger', onclick: (e) => run(e.target, async () => {
      await state.api.del(`subscriptions/${sub.id}`);
      await showSubscriptions();
      say(`Deleted ${sub.name || sub.url}.`);
    }, msg) }, 'Yes, delete');
    wrap.replaceChildren(h('span', {}, 'Delete this subscription?'), confirmBtn,
      h('button', { type: 'button', onclick: () => wrap.replaceChildren(ask) }, 'Cancel'));
    confirmBtn.focus();
  } }, 'Delete');
  wrap.append(ask);
  return wrap;
}

function field(id, label, input, hint) {
  input.id = `f-${id}`;
  input.name = id;
  const err = h('p', { class: 'field-error', id: `f-${id}-error`, hidden: true });
  const hintEl = hint ? h('p', { class: 'hint', id: `f-${id}-hint` }, hint) : null;
  input.setAttribute('aria-describedby', [hintEl && hintEl.id, err.id].filter(Boolean).join(' '));
  return h('div', { class: 'field' }, h('label', { for: input.id }, label), input, hintEl, err);
}

async function showForm(sub) {
  const seq = (state.viewSeq = (state.viewSeq || 0) + 1);
  const v = $('#view');
  const catalog = (await loadCatalog()).filter((t) => !t.archived && t.name !== 'webhook.test');
  if (stale(seq)) return;
  const chosen = new Set(sub ? sub.events : []);
  const names = new Set(catalog.map((t) => t.name));
  const other = sub ? sub.events.filter((e) => !names.has(e)) : [];
  const formError = h('p', { class: 'form-error', role: 'alert' });
  const eventsErr = h('p', { class: 'field-error', id: 'f-events-error', hidden: true });
  const events = h('fieldset', { id: 'f-events', 'aria-describedby': 'f-events-error' },
    h('legend', {}, 'Events'),
    catalog.length ? null : h('p', { class: 'hint' }, 'The catalog is empty: type the events below.'),
    catalog.map((t) => h('label', {}, h('input', { type: 'checkbox', name: 'event', value: t.name, checked: chosen.has(t.name) }),
      h('span', {}, h('code', {}, t.name), t.description ? ' — ' + t.description : ''))),
    field('patterns', 'Other events or patterns', h('input', { type: 'text', value: other.join(', '), autocomplete: 'off' }),
      'Comma-separated, e.g. order.* for every order event, or * for all.'),
    eventsErr);
  const form = h('form', { novalidate: true, 'aria-labelledby': 'view-title' },
    formError,
    field('name', 'Name', h('input', { type: 'text', value: sub ? sub.name : '', autocomplete: 'off' })),
    isQueue(sub)
      ? field('url', 'Destination', h('input', { type: 'text', value: target(sub), readonly: true }),
        'An AWS queue or topic; it is changed through the API.')
      : field('url', 'Endpoint URL', h('input', { type: 'url', value: sub ? sub.url : '', required: true, autocomplete: 'url', inputmode: 'url' }),
        'Where events are sent, e.g. https://example.com/webhooks'),
    field('description', 'Description', h('input', { type: 'text', value: sub ? sub.description || '' : '', autocomplete: 'off' })),
    events,
    h('div', { class: 'row' }, h('button', { type: 'submit', class: 'primary' }, sub ? 'Save' : 'Create subscription'),
      h('button', { type: 'button', onclick: () => setView('subscriptions') }, 'Cancel')));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const btn = form.querySelector('button[type=submit]');
    run(btn, () => submitForm(form, sub, formError), formError);
  });
  v.replaceChildren(heading(sub ? `Edit ${sub.name || sub.url}` : 'New subscription'), form);
  form.querySelector('#f-url').focus();
}

// isQueue: the subscription delivers to an SQS queue or SNS topic, not a URL.
const isQueue = (sub) => Boolean(sub && sub.destination && sub.destination.type && sub.destination.type !== 'http');

// target is where a subscription's deliveries go, as one line.
function target(sub) {
  const d = sub.destination || {};
  if (d.type === 'sqs') return `SQS ${d.queueUrl}`;
  if (d.type === 'sns') return `SNS ${d.topicArn}`;
  return `${sub.method || 'POST'} ${sub.url}`;
}

async function submitForm(form, sub, formError) {
  const val = (id) => form.querySelector(`#f-${id}`).value.trim();
  const evs = [...form.querySelectorAll('input[name=event]:checked')].map((c) => c.value);
  for (const p of val('patterns').split(',')) if (p.trim()) evs.push(p.trim());
  const body = { events: evs, description: val('description') || null };
  if (!isQueue(sub)) body.url = val('url');
  if (val('name')) body.name = val('name');
  for (const e of form.querySelectorAll('.field-error')) { e.hidden = true; e.textContent = ''; }
  for (const e of form.querySelectorAll('[aria-invalid]')) e.removeAttribute('aria-invalid');
  formError.textContent = '';
  try {
    const saved = sub ? await state.api.patch(`subscriptions/${sub.id}`, body) : await state.api.post('subscriptions', body);
    await showSubscriptions();
    say(sub ? 'Saved.' : 'Subscription created.');
    if (!sub && saved.secret) {
      const card = document.querySelector(`[data-id="${CSS.escape(saved.id)}"]`);
      if (card) showSecret(card.querySelector('.secret-box'), { secret: saved.secret }, 'Signing secret (verify signatures with it)');
    }
  } catch (err) {
    if (!(err instanceof APIError) || err.status === 401) throw err;
    let placed = false;
    let first = null;
    for (const [name, msgs] of Object.entries(err.fields)) {
      const input = form.querySelector(`#f-${CSS.escape(name)}`);
      const box = form.querySelector(`#f-${CSS.escape(name)}-error`);
      if (!input || !box) continue;
      box.textContent = msgs.join('; ');
      box.hidden = false;
      input.setAttribute('aria-invalid', 'true');
      first ||= input.matches('fieldset') ? input.querySelector('input') : input;
      placed = true;
    }
    formError.textContent = placed ? 'Please correct the fields marked below.' : err.message;
    if (first) first.focus();
  }
}

// ---- Catalog ----

async function showCatalog() {
  const seq = state.viewSeq;
  const v = $('#view');
  v.replaceChildren(heading('Event catalog'), h('p', { class: 'muted' }, 'Loading…'));
  focusTitle();
  const types = (await loadCatalog(true)).filter((t) => !t.archived);
  if (stale(seq)) return;
  const list = h('div', { id: 'catalog' });
  if (types.length <= 1) list.append(h('div', { class: 'empty' }, h('p', {}, `${state.provider} has not described its events yet.`),
    h('p', {}, 'You can still subscribe to patterns such as * on the Subscriptions page.')));
  for (const t of types) {
    list.append(h('article', { class: 'card', 'aria-labelledby': `et-${t.name}` },
      h('h3', { id: `et-${t.name}` }, h('code', {}, t.name)),
      t.description ? h('p', {}, t.description) : null,
      t.schema ? h('details', {}, h('summary', {}, 'Schema'), h('pre', {}, json(t.schema))) : h('p', { class: 'muted' }, 'No schema: any JSON payload.'),
      h('details', {}, h('summary', {}, 'Example payload'), h('pre', {}, json(t.schema ? example(t.schema) : { any: 'JSON' })))));
  }
  v.replaceChildren(v.firstChild, h('p', { class: 'muted' }, 'The events you can subscribe to, with the schema their payloads follow.'), list);
}

// ---- Deliveries ----

function localInput(d) {
  const p = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
}

async function showDeliveries() {
  const seq = state.viewSeq;
  const v = $('#view');
  const f = state.filter || {};
  state.filter = null;
  v.replaceChildren(heading('Deliveries'), h('p', { class: 'muted' }, 'Loading…'));
  focusTitle();
  const [subs, catalog] = await Promise.all([loadSubs(), loadCatalog()]);
  if (stale(seq)) return;
  const chartBox = h('section', { class: 'card', 'aria-labelledby': 'chart-title' },
    h('h3', { id: 'chart-title' }, 'Last 24 hours'),
    h('div', { class: 'legend' }, h('span', {}, h('span', { class: 'sw delivered' }), 'delivered'), h('span', {}, h('span', { class: 'sw failed' }), 'failed')),
    h('div', { id: 'chart' }, h('p', { class: 'muted' }, 'Loading…')));
  const sel = (id, label, options, value) => field(id, label, h('select', {},
    options.map(([val, text]) => h('option', { value: val, selected: val === (value || '') }, text))));
  const form = h('form', { class: 'filters', 'aria-label': 'Filter deliveries' },
    sel('sub', 'Subscription', [['', 'All subscriptions'], ...subs.map((s) => [s.id, s.name || s.url])], f.sub),
    sel('status', 'Status', [['', 'Any status'], ...STATUSES.map((s) => [s, s])], f.status),
    sel('type', 'Event type', [['', 'Any type'], ...catalog.map((t) => [t.name, t.name])], f.type),
    field('since', 'From', h('input', { type: 'datetime-local', value: f.since || '' })),
    field('until', 'To', h('input', { type: 'datetime-local', value: f.until || '' })),
    h('div', { class: 'row' }, h('button', { type: 'submit', class: 'primary' }, 'Apply'),
      h('button', { type: 'button', id: 'recover', onclick: (e) => recover(e.target, form) }, 'Recover failed')));
  const results = h('div', { id: 'deliveries', 'aria-live': 'polite' });
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    run(form.querySelector('button[type=submit]'), () => listDeliveries(form, subs, results));
  });
  v.replaceChildren(v.firstChild, chartBox, form, results);
  if (subs.length === 0) {
    results.append(h('div', { class: 'empty' }, h('p', {}, 'No subscriptions, so no deliveries yet.'),
      h('p', {}, 'Create a subscription first; each event sent to it shows here with every attempt.')));
    $('#chart').replaceChildren(chart(hourly([])));
    return;
  }
  await Promise.all([listDeliveries(form, subs, results), drawChart(subs)]);
}

function filterValues(form) {
  const val = (id) => form.querySelector(`#f-${id}`).value;
  const iso = (id) => (val(id) ? new Date(val(id)).toISOString() : '');
  return { sub: val('sub'), status: val('status'), type: val('type'), since: iso('since'), until: iso('until') };
}

async function listDeliveries(form, subs, results) {
  // Only the latest listing is shown: an earlier one that answers late is dropped.
  const seq = (state.listSeq = (state.listSeq || 0) + 1);
  results.setAttribute('aria-busy', 'true');
  try {
    await renderDeliveries(form, subs, results, seq);
  } finally {
    if (seq === state.listSeq) results.setAttribute('aria-busy', 'false');
  }
}

async function renderDeliveries(form, subs, results, seq) {
  const f = filterValues(form);
  const targets = (f.sub ? subs.filter((s) => s.id === f.sub) : subs).slice(0, MAX_SUBS);
  const q = new URLSearchParams({ limit: '50' });
  for (const k of ['status', 'since', 'until']) if (f[k]) q.set(k, f[k]);
  const pages = await Promise.all(targets.map((s) => state.api.get(`subscriptions/${s.id}/deliveries?${q}`)));
  if (seq !== state.listSeq) return;
  const byID = Object.fromEntries(subs.map((s) => [s.id, s]));
  let ds = pages.flatMap((p) => p.data || []);
  if (f.type) ds = ds.filter((d) => d.eventType === f.type);
  ds.sort((a, b) => (a.createdAt < b.createdAt ? 1 : -1));
  ds = ds.slice(0, 100);
  const nodes = [];
  if (ds.length === 0) {
    nodes.push(h('div', { class: 'empty' }, h('p', {}, 'No deliveries match these filters.'),
      h('p', {}, 'Deliveries show here once events are sent to your subscriptions; “Send test” on a subscription makes one now.')));
  }
  for (const d of ds) nodes.push(deliveryItem(d, byID[d.subscriptionId]));
  nodes.push(h('p', { class: 'hint' }, `Showing ${ds.length} most recent${subs.length > MAX_SUBS && !f.sub ? ` of the first ${MAX_SUBS} subscriptions` : ''}.`));
  results.replaceChildren(...nodes);
}

function deliveryItem(d, sub) {
  const msg = h('p', { role: 'status' });
  const attempts = d.attempts || [];
  const body = h('div', { class: 'attempts' });
  const render = (d) => {
    const rows = (d.attempts || []).map((a) => h('tr', {},
      h('td', {}, String(a.number)), h('td', { class: 'wide' }, fmtTime(a.at)),
      h('td', {}, a.statusCode ? String(a.statusCode) : '—'), h('td', {}, `${a.durationMs} ms`),
      h('td', {}, a.response || a.error ? h('pre', {}, a.response || a.error) : h('span', { class: 'muted' }, 'no body'))));
    body.replaceChildren(rows.length
      ? h('table', {}, h('caption', { class: 'visually-hidden' }, 'Attempts'),
        h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, '#'), h('th', { scope: 'col', class: 'wide' }, 'Time'),
          h('th', { scope: 'col' }, 'Status code'), h('th', { scope: 'col' }, 'Duration'), h('th', { scope: 'col' }, 'Response'))),
        h('tbody', {}, rows))
      : h('p', { class: 'muted' }, 'No attempt yet.'));
  };
  render(d);
  const status = h('span', {}, badge(d.status));
  const item = h('details', { class: 'card delivery', 'data-id': d.id },
    h('summary', {}, status, ' ', h('code', {}, d.eventType), ' · ', fmtTime(d.createdAt), ' · ', sub ? sub.name || sub.url : d.subscriptionId,
      ` · ${attempts.length} attempt${attempts.length === 1 ? '' : 's'}`),
    h('p', { class: 'muted' }, `Delivery ${d.id} of event ${d.eventId}`, d.nextAttemptAt ? ` · next attempt ${fmtTime(d.nextAttemptAt)}` : ''),
    body,
    h('div', { class: 'row' }, h('button', { type: 'button', onclick: (e) => run(e.target, async () => {
      const got = await state.api.post(`deliveries/${d.id}/retry`, {});
      status.replaceChildren(badge(got.status));
      render(got);
      msg.className = '';
      msg.textContent = 'Retry queued: refresh to see its attempt.';
    }, msg) }, 'Retry now'),
    h('button', { type: 'button', onclick: (e) => run(e.target, async () => {
      const got = await state.api.get(`deliveries/${d.id}`);
      status.replaceChildren(badge(got.status));
      render(got);
    }, msg) }, 'Refresh')),
    msg);
  return item;
}

async function recover(button, form) {
  const f = filterValues(form);
  const box = $('#deliveries');
  if (!f.sub) {
    say('Choose a subscription to recover its failed deliveries.', true);
    form.querySelector('#f-sub').focus();
    return;
  }
  const since = f.since || new Date(Date.now() - 24 * 3600e3).toISOString();
  await run(button, async () => {
    const body = { since };
    if (f.until) body.until = f.until;
    const r = await state.api.post(`subscriptions/${f.sub}/recover`, body);
    say(`Re-queued ${r.requeued} failed or cancelled deliveries since ${fmtTime(since)}.`);
  }, box);
}

async function drawChart(subs) {
  const since = new Date(Date.now() - 24 * 3600e3).toISOString();
  let truncated = subs.length > MAX_SUBS;
  const lists = await Promise.all(subs.slice(0, MAX_SUBS).map(async (s) => {
    const r = await state.api.all(`subscriptions/${s.id}/deliveries?since=${encodeURIComponent(since)}`, 3);
    truncated ||= r.truncated;
    return r.items;
  }));
  const buckets = hourly(lists.flat());
  const total = buckets.reduce((n, b) => n + b.delivered + b.failed, 0);
  const table = h('table', { class: 'visually-hidden' }, h('caption', {}, 'Deliveries per hour'),
    h('tbody', {}, buckets.map((b) => h('tr', {}, h('th', { scope: 'row' }, b.start.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' })),
      h('td', {}, `${b.delivered} delivered`), h('td', {}, `${b.failed} failed`)))));
  const notes = [];
  if (total === 0) notes.push(h('p', { class: 'hint' }, 'Nothing delivered or failed in the last 24 hours.'));
  if (truncated) notes.push(h('p', { class: 'hint' }, 'Counts cover the most recent deliveries only.'));
  const box = $('#chart');
  if (box) box.replaceChildren(chart(buckets), table, ...notes); // gone if another view was drawn meanwhile
}

// ---- Start ----

async function start() {
  const s = session();
  if (s && s.provider) state.provider = s.provider;
  if (s && s.provider) $('#subtitle').textContent = `Your webhooks at ${s.provider}`;
  if (!s || !s.token) {
    $('#view').replaceChildren(h('h2', {}, 'Open this page through your link'),
      h('p', {}, `This page shows your webhooks when opened through a link from ${state.provider}. Ask them for a new link.`));
    return;
  }
  state.api = client(s.token, expired);
  for (const b of document.querySelectorAll('#tabs button')) b.addEventListener('click', () => setView(b.dataset.view).catch(fail));
  $('#tabs').hidden = false;
  await setView('subscriptions');
}

function fail(err) {
  if (err instanceof APIError && err.status === 401) return;
  say(err instanceof APIError ? err.message : 'Something went wrong: ' + err.message, true);
}

start().catch(fail);
