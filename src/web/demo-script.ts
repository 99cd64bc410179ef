/**
 * The demo pages' browser script, served as /assets/demo.js. It talks only to the JSON API
 * (with X-CSRF: 1) and builds the DOM with textContent: nothing from the API becomes markup.
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
  if (res.status === 401) { location.href = '/demo/sign-in'; return null; }
  if (!res.ok) {
    let detail = 'Request failed (' + res.status + ')';
    try { const p = await res.json(); if (p && p.detail) detail = p.detail; } catch {}
    throw new Error(detail);
  }
  return res.status === 204 ? null : res.json();
}

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === 'class') node.className = v; else node.setAttribute(k, v);
  }
  for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return node;
}

const LABELS = { ok: 'OK', syncing: 'Syncing', action_needed: 'Action needed', temporary_error: 'Temporary error', unknown: 'Unknown' };

function notice(text) {
  const n = document.getElementById('notice');
  if (!n) return;
  n.textContent = text;
  n.classList.toggle('hidden', !text);
}

async function refresh() {
  const box = document.getElementById('connections');
  let data;
  try { data = await api('GET', '/me/connections'); } catch (e) { box.replaceChildren(el('p', { class: 'message' }, e.message)); return; }
  if (!data) return;
  document.getElementById('manage').classList.toggle('hidden', !data.linked);
  document.getElementById('unlink').classList.toggle('hidden', !data.linked);
  if (!data.linked || data.connections.length === 0) {
    box.replaceChildren(el('p', { class: 'muted', id: 'empty' }, data.linked ? 'Linked, but no bank connection yet.' : 'No bank linked yet.'));
    return;
  }
  const list = el('ul', { class: 'connections' });
  for (const c of data.connections) {
    const actions = el('div', { class: 'row' });
    if (c.reconnectUrl) actions.append(el('a', { class: 'button', href: c.reconnectUrl, 'data-action': 'reconnect' }, 'Reconnect'));
    const remove = el('button', { class: 'secondary', type: 'button', 'data-action': 'remove' }, 'Remove');
    remove.addEventListener('click', async () => {
      try { await api('DELETE', '/me/connections/' + encodeURIComponent(c.id)); notice('Connection removed.'); } catch (e) { notice(e.message); }
      await refresh();
    });
    actions.append(remove);
    const info = el('div', {},
      el('strong', {}, c.connector && c.connector.name ? c.connector.name : 'Connection ' + c.id), ' ',
      el('span', { class: 'badge ' + c.status, 'data-status': c.status }, LABELS[c.status] || c.status),
      c.message ? el('div', { class: 'muted' }, c.message) : '',
      el('div', { class: 'muted' }, c.lastUpdate ? 'Last update ' + new Date(c.lastUpdate).toLocaleString() : 'Not synced yet'));
    list.append(el('li', { 'data-connection-id': String(c.id) }, info, actions));
  }
  box.replaceChildren(list);
}

function home() {
  const params = new URLSearchParams(location.search);
  if (params.get('connection_id')) notice('Bank connection saved.');
  document.getElementById('sign-out').addEventListener('click', async () => {
    await api('DELETE', '/demo/session'); location.href = '/demo/sign-in';
  });
  document.getElementById('unlink').addEventListener('click', async () => {
    if (!confirm('Unlink your bank? All connections will be removed.')) return;
    try { await api('DELETE', '/me/connections'); notice('Bank unlinked.'); } catch (e) { notice(e.message); }
    await refresh();
  });
  refresh();
}

function signIn() {
  const form = document.getElementById('sign-in');
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const userId = document.getElementById('user-id-input').value.trim();
    const err = document.getElementById('sign-in-error');
    try {
      await api('POST', '/demo/session', { userId });
      location.href = form.dataset.returnTo || '/';
    } catch (e) { err.textContent = e.message; err.classList.remove('hidden'); }
  });
}

if (document.getElementById('sign-in')) signIn(); else if (document.getElementById('connections')) home();
`;
