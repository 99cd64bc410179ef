/**
 * The demo pages' browser script, served as /assets/demo.js. It talks only to the JSON API
 * (with X-CSRF: 1) and builds the DOM with createTextNode/textContent: nothing from the API
 * becomes markup. Flows (add, reconnect, manage) are plain navigations to the service's routes.
 * Its texts are the catalogue's (src/i18n), handed over by the page in #messages, in the page's
 * language; what it says after a flow follows the connection's real status.
 */
export const DEMO_JS = `
const csrf = { 'X-CSRF': '1' };
const holder = document.getElementById('messages');
const M = holder ? JSON.parse(holder.dataset.messages || '{}') : {};
const LANG = document.documentElement.lang || 'en';

/** A catalogue message with its {placeholders} filled, as text. */
function msg(key, params) {
  const text = M[key] || key;
  return text.replace(/\\{(\\w+)\\}/g, (whole, name) => (params && name in params ? String(params[name]) : whole));
}

async function api(method, path, body) {
  const res = await fetch(path, {
    method,
    credentials: 'same-origin',
    headers: body === undefined ? csrf : { ...csrf, 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (res.status === 401 && !document.getElementById('sign-in')) { location.href = '/demo/sign-in'; return null; }
  if (!res.ok) {
    let detail = msg('demo.request.failed', { status: res.status });
    try { const p = await res.json(); if (p && typeof p.code === 'string' && M['error.' + p.code + '.message']) detail = M['error.' + p.code + '.message']; } catch {}
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

const STATUSES = ['ok', 'syncing', 'action_needed', 'temporary_error', 'unknown'];
function statusLabel(status) {
  return STATUSES.includes(status) ? msg('demo.status.' + status) : status;
}

/** kind: undefined (done), 'warn' (done, but the user has something to do) or 'error'. */
function notice(text, kind) {
  const n = document.getElementById('notice');
  if (!n) return;
  n.textContent = text || '';
  n.classList.toggle('error', kind === 'error');
  n.classList.toggle('warn', kind === 'warn');
  n.classList.toggle('hidden', !text);
}

const relative = new Intl.RelativeTimeFormat(LANG, { numeric: 'auto' });
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
  return new Date(iso).toLocaleDateString(LANG, { day: 'numeric', month: 'short', year: 'numeric' });
}

function bankName(c) {
  return c.connector && c.connector.name ? c.connector.name : msg('demo.connection.unnamed', { id: c.id });
}

function logoClass(name) {
  let h = 0;
  for (const ch of name) h = (h * 31 + ch.codePointAt(0)) % 6;
  return 'bank-logo logo-' + h;
}

/** The line under the bank's name: the service's message (a sentence for the user) where the status calls for one. */
function detail(c) {
  switch (c.status) {
    case 'ok': return c.lastUpdate ? msg('demo.detail.synced', { ago: ago(c.lastUpdate) }) : msg('demo.detail.upToDate');
    case 'syncing': return msg('demo.detail.syncing');
    case 'action_needed': return c.message || msg('demo.detail.actionNeeded');
    case 'temporary_error': return c.message || msg('demo.detail.temporaryError');
    default: return c.message || msg('demo.detail.unknown', { state: c.state || '?' });
  }
}
const DETAIL_HAS_MESSAGE = ['action_needed', 'temporary_error', 'unknown'];

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
    actions.append(el('a', { class: 'button small', href: c.reconnectUrl + '?return_to=' + encodeURIComponent('/?done=reconnect'), 'data-action': 'reconnect' }, msg('demo.connection.reconnect')));
  }
  const remove = el('button', { class: 'secondary small', type: 'button', 'data-action': 'remove' }, msg('demo.connection.remove'));
  remove.addEventListener('click', () => confirmThen(
    msg('demo.remove.title', { bank: name }),
    msg('demo.remove.text'),
    msg('demo.connection.remove'),
    async () => {
      remove.disabled = true;
      try { await api('DELETE', '/me/connections/' + encodeURIComponent(c.id)); notice(msg('demo.remove.done', { bank: name })); }
      catch (e) { notice(e.message, 'error'); }
      await refresh();
    }));
  actions.append(remove);
  const expiry = c.expiresAt ? el('span', {}, msg('demo.detail.consentUntil', { date: day(c.expiresAt) })) : '';
  return el('li', { class: 'connection', 'data-connection-id': String(c.id), 'data-status': c.status },
    el('span', { class: logoClass(name), 'aria-hidden': 'true' }, Array.from(name)[0] || '?'),
    el('div', { class: 'connection-body' },
      el('div', { class: 'connection-title' },
        el('strong', {}, name),
        el('span', { class: 'badge ' + c.status, 'data-status': c.status }, statusLabel(c.status))),
      el('div', { class: 'connection-detail' }, detail(c), expiry),
      c.message && !DETAIL_HAS_MESSAGE.includes(c.status) ? el('div', { class: 'connection-message' }, c.message) : ''),
    actions);
}

function emptyState(linked) {
  return el('div', { class: 'empty', id: 'empty' },
    el('div', { class: 'empty-art', 'aria-hidden': 'true' }),
    el('h2', {}, msg(linked ? 'demo.empty.linkedTitle' : 'demo.empty.title')),
    el('p', {}, msg(linked ? 'demo.empty.linkedText' : 'demo.empty.text')));
}

const plural = new Intl.PluralRules(LANG);
let timer = null;
let lastData = null;
let lastError = '';
/** Loads and shows the list; false when it could not be loaded (lastError says why). */
async function refresh() {
  const box = document.getElementById('connections');
  clearTimeout(timer);
  let data;
  try { data = await api('GET', '/me/connections'); }
  catch (e) {
    lastData = null;
    lastError = e.message;
    box.replaceChildren(el('p', { class: 'notice error', id: 'list-error' }, e.message));
    box.setAttribute('aria-busy', 'false');
    return false;
  }
  if (!data) return false;
  lastData = data;
  box.setAttribute('aria-busy', 'false');
  document.getElementById('manage').classList.toggle('hidden', !data.linked);
  document.getElementById('unlink').classList.toggle('hidden', !data.linked);
  const n = data.connections.length;
  document.getElementById('count').textContent = n === 0 ? '' : msg(plural.select(n) === 'one' ? 'demo.count.one' : 'demo.count.other', { n });
  box.replaceChildren(n === 0 ? emptyState(data.linked) : el('ul', { class: 'connections' }, ...data.connections.map(connectionItem)));
  // A first sync takes a moment: look again while one is running.
  if (data.connections.some((c) => c.status === 'syncing')) timer = setTimeout(refresh, 4000);
  return true;
}

/**
 * After a flow the service returns here with ?done=...&connection_id=...: say what happened,
 * once, as the list shows it: a connection that needs the user is not "connected", and a list
 * that did not load confirms nothing.
 */
function afterFlow(loaded) {
  const params = new URLSearchParams(location.search);
  const done = params.get('done');
  const id = params.get('connection_id');
  if (!done && !id) return;
  history.replaceState(null, '', '/');
  if (!loaded) { notice(msg('demo.notice.listFailed', { detail: lastError }), 'error'); return; }
  if (done === 'manage') { notice(msg('demo.notice.managed')); return; }
  const c = id ? lastData.connections.find((x) => String(x.id) === id) : undefined;
  if (!c) { notice(msg(id ? 'demo.notice.notListed' : 'demo.notice.finished'), id ? 'warn' : undefined); return; }
  const bank = bankName(c);
  const again = done === 'reconnect';
  switch (c.status) {
    case 'ok': notice(msg(again ? 'demo.notice.reconnected' : 'demo.notice.connected', { bank })); break;
    case 'syncing': notice(msg('demo.notice.syncing', { bank })); break;
    case 'action_needed': notice(msg(again ? 'demo.notice.stillActionNeeded' : 'demo.notice.actionNeeded', { bank }), 'warn'); break;
    case 'temporary_error': notice(msg('demo.notice.temporaryError', { bank }), 'warn'); break;
    default: notice(msg('demo.notice.unknown', { bank }), 'warn');
  }
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
    msg('demo.unlink.title'),
    msg('demo.unlink.text'),
    msg('demo.unlink.action'),
    async () => {
      try { await api('DELETE', '/me/connections'); notice(msg('demo.unlink.done')); }
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
