/**
 * The demo pages' browser script, served as /assets/demo.js. It talks only to the JSON API
 * (with X-CSRF: 1) and builds the DOM with createTextNode/textContent: nothing from the API
 * becomes markup. Flows (add, reconnect, manage) are plain navigations to the service's routes.
 */
export const DEMO_JS = `
const csrf = { 'X-CSRF': '1' };

async function api(method, path, body) {
  const res = await fetch(path, {
    method,
    credentials: 'same-origin',
    headers: body === undefined ? csrf : { ...csrf, 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (res.status === 401 && !document.getElementById('sign-in')) { location.href = '/demo/sign-in'; return null; }
  if (!res.ok) {
    let detail = 'The request failed (' + res.status + '). Please try again.';
    try { const p = await res.json(); if (p && typeof p.detail === 'string') detail = p.detail; } catch {}
    throw new Error(detail);
  }
  return res.status === 204 ? null : res.json();
}

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null) continue;
    if (k === 'class') node.className = v; else node.setAttribute(k, v);
  }
  for (const c of children) {
    if (c === undefined || c === null || c === '') continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

const LABELS = { ok: 'OK', syncing: 'Syncing', action_needed: 'Action needed', temporary_error: 'Temporary error', unknown: 'Unknown' };

function notice(text, kind) {
  const n = document.getElementById('notice');
  if (!n) return;
  n.textContent = text || '';
  n.classList.toggle('error', kind === 'error');
  n.classList.toggle('hidden', !text);
}

const relative = new Intl.RelativeTimeFormat(undefined, { numeric: 'auto' });
function ago(iso) {
  const seconds = (new Date(iso).getTime() - Date.now()) / 1000;
  const steps = [[60, 'second'], [3600, 'minute'], [86400, 'hour'], [604800, 'day'], [2629800, 'week'], [31557600, 'month'], [Infinity, 'year']];
  let unit = 1;
  for (const [limit, name] of steps) {
    if (Math.abs(seconds) < limit) return relative.format(Math.round(seconds / unit), name);
    unit = limit;
  }
  return '';
}
function day(iso) {
  return new Date(iso).toLocaleDateString(undefined, { day: 'numeric', month: 'short', year: 'numeric' });
}

function bankName(c) {
  return c.connector && c.connector.name ? c.connector.name : 'Connection ' + c.id;
}

function logoClass(name) {
  let h = 0;
  for (const ch of name) h = (h * 31 + ch.codePointAt(0)) % 6;
  return 'bank-logo logo-' + h;
}

function detail(c) {
  switch (c.status) {
    case 'ok': return c.lastUpdate ? 'Synced ' + ago(c.lastUpdate) : 'Up to date';
    case 'syncing': return 'Fetching your accounts. This page updates by itself.';
    case 'action_needed': return c.message || 'Your bank needs you to sign in again before it can sync.';
    case 'temporary_error': return 'The bank is not answering right now. Powens will retry by itself.';
    default: return 'Powens reports the state "' + (c.state || 'unknown') + '".';
  }
}

let confirmHandler = null;
function confirmThen(title, text, action, run) {
  const dialog = document.getElementById('confirm');
  document.getElementById('confirm-title').textContent = title;
  document.getElementById('confirm-text').textContent = text;
  document.getElementById('confirm-ok').textContent = action;
  confirmHandler = run;
  dialog.returnValue = '';
  dialog.showModal();
}

function connectionItem(c) {
  const name = bankName(c);
  const actions = el('div', { class: 'connection-actions' });
  if (c.reconnectUrl) {
    actions.append(el('a', { class: 'button small', href: c.reconnectUrl + '?return_to=' + encodeURIComponent('/?done=reconnect'), 'data-action': 'reconnect' }, 'Reconnect'));
  }
  const remove = el('button', { class: 'secondary small', type: 'button', 'data-action': 'remove' }, 'Remove');
  remove.addEventListener('click', () => confirmThen(
    'Remove ' + name + '?',
    'Its accounts will no longer be shared with this app. You can add the bank again later.',
    'Remove',
    async () => {
      remove.disabled = true;
      try { await api('DELETE', '/me/connections/' + encodeURIComponent(c.id)); notice(name + ' was removed.'); }
      catch (e) { notice(e.message, 'error'); }
      await refresh();
    }));
  actions.append(remove);
  const expiry = c.expiresAt ? el('span', {}, ' · consent until ' + day(c.expiresAt)) : '';
  return el('li', { class: 'connection', 'data-connection-id': String(c.id), 'data-status': c.status },
    el('span', { class: logoClass(name), 'aria-hidden': 'true' }, Array.from(name)[0] || '?'),
    el('div', { class: 'connection-body' },
      el('div', { class: 'connection-title' },
        el('strong', {}, name),
        el('span', { class: 'badge ' + c.status, 'data-status': c.status }, LABELS[c.status] || c.status)),
      el('div', { class: 'connection-detail' }, detail(c), expiry),
      c.message && c.status !== 'action_needed' ? el('div', { class: 'connection-message' }, c.message) : ''),
    actions);
}

function emptyState(linked) {
  return el('div', { class: 'empty', id: 'empty' },
    el('div', { class: 'empty-art', 'aria-hidden': 'true' }),
    el('h2', {}, linked ? 'No bank connected' : 'No bank linked yet'),
    el('p', {}, linked
      ? 'Your bank profile at Powens has no connection left. Add one to see your accounts again.'
      : 'Add a connection: you will choose your bank at Powens, sign in there, and come back here.'));
}

let timer = null;
let lastData = null;
async function refresh() {
  const box = document.getElementById('connections');
  clearTimeout(timer);
  let data;
  try { data = await api('GET', '/me/connections'); }
  catch (e) { box.replaceChildren(el('p', { class: 'notice error' }, e.message)); box.setAttribute('aria-busy', 'false'); return; }
  if (!data) return;
  lastData = data;
  box.setAttribute('aria-busy', 'false');
  document.getElementById('manage').classList.toggle('hidden', !data.linked);
  document.getElementById('unlink').classList.toggle('hidden', !data.linked);
  const n = data.connections.length;
  document.getElementById('count').textContent = n === 0 ? '' : n + (n === 1 ? ' bank' : ' banks');
  box.replaceChildren(n === 0 ? emptyState(data.linked) : el('ul', { class: 'connections' }, ...data.connections.map(connectionItem)));
  // A first sync takes a moment: look again while one is running.
  if (data.connections.some((c) => c.status === 'syncing')) timer = setTimeout(refresh, 4000);
}

/** After a flow the service returns here with ?done=...&connection_id=...: say what happened, once. */
async function afterFlow() {
  const params = new URLSearchParams(location.search);
  const done = params.get('done');
  const id = params.get('connection_id');
  if (!done && !id) return;
  history.replaceState(null, '', '/');
  const c = lastData && id ? lastData.connections.find((x) => String(x.id) === id) : undefined;
  const name = c ? bankName(c) : 'Your bank';
  if (done === 'reconnect') notice(name + ' is reconnected.');
  else if (done === 'manage') notice('Your changes at Powens are saved.');
  else notice(name + ' is connected.');
}

/**
 * The app's own bank picker: GET /connectors lists the domain's banks, and the chosen one opens
 * the webview on that bank alone (/connect?connector_uuid=...), without Powens' chooser.
 */
async function bankPicker() {
  const toolbar = document.querySelector('.toolbar');
  if (!toolbar) return;
  let list;
  try { list = await api('GET', '/connectors'); } catch { return; }
  if (!list || !Array.isArray(list.connectors) || list.connectors.length === 0) return;
  const select = el('select', { id: 'bank-picker', 'aria-label': 'Your bank' },
    ...list.connectors.map((c) => el('option', { value: c.uuid }, c.name)));
  const go = el('a', { class: 'button secondary', id: 'connect-bank' }, 'Connect this bank');
  const target = () => '/connect?connector_uuid=' + encodeURIComponent(select.value) + '&return_to=' + encodeURIComponent('/?done=connect');
  go.setAttribute('href', target());
  select.addEventListener('change', () => go.setAttribute('href', target()));
  toolbar.after(el('div', { class: 'toolbar bank-picker' }, el('label', { for: 'bank-picker' }, 'Or pick your bank first: '), select, go));
}

function home() {
  document.getElementById('sign-out').addEventListener('click', async () => {
    try { await api('DELETE', '/demo/session'); } finally { location.href = '/demo/sign-in'; }
  });
  document.getElementById('unlink').addEventListener('click', () => confirmThen(
    'Unlink your bank?',
    'Every connection is deleted at Powens and this app forgets your bank profile. You can link a bank again at any time.',
    'Unlink',
    async () => {
      try { await api('DELETE', '/me/connections'); notice('Your bank is unlinked.'); }
      catch (e) { notice(e.message, 'error'); }
      await refresh();
    }));
  const dialog = document.getElementById('confirm');
  dialog.addEventListener('close', () => {
    const run = confirmHandler;
    confirmHandler = null;
    if (dialog.returnValue === 'confirm' && run) run();
  });
  document.addEventListener('visibilitychange', () => { if (document.visibilityState === 'visible') refresh(); });
  refresh().then(afterFlow);
  bankPicker();
}

function signIn() {
  const form = document.getElementById('sign-in');
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const userId = document.getElementById('user-id-input').value.trim();
    const err = document.getElementById('sign-in-error');
    const button = form.querySelector('button[type=submit]');
    button.disabled = true;
    try {
      await api('POST', '/demo/session', { userId });
      location.href = form.dataset.returnTo || '/';
    } catch (e) {
      err.textContent = e.message;
      err.classList.remove('hidden');
      button.disabled = false;
    }
  });
}

if (document.getElementById('sign-in')) signIn(); else if (document.getElementById('connections')) home();
`;
