import express, { type Request, type Response, type Router } from 'express';
import { CONNECTORS, type EmulatorConnector, SIMULATED_STATES, TEST_CONNECTOR_ID } from './connectors.js';
import type { ConnectionRecord } from './store.js';
import { type EmulatorClient, type EmulatorContext, findClient } from './types.js';
import { appendQuery, escapeHtml, powensDate, redirectUriAllowed } from './util.js';
import { WEBVIEW_CSS } from './webview-css.js';

export const WEBVIEW_LANGS = ['en', 'fr', 'de', 'nl', 'pt', 'it', 'es'] as const;
const FLOWS = ['connect', 'reconnect', 'manage'] as const;
type Flow = (typeof FLOWS)[number];

/** Form fields of the emulator's own pages; never carried over as flow parameters. */
const RESERVED_FIELDS = new Set(['action', 'connector_id', 'login', 'password', 'webview_session']);

type Params = Map<string, string>;

interface FlowContext {
  flow: Flow;
  lang: string;
  params: Params;
  client: EmulatorClient;
  redirectUri: string | undefined;
  state: string | undefined;
  code: string | undefined;
  /** The Powens user the given `code` belongs to. */
  userId: number | undefined;
  /** True when the code was accepted through a webview session (already consumed). */
  viaSession: boolean;
  connection: ConnectionRecord | undefined;
  connectors: EmulatorConnector[];
}

class WebviewError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

// ---------------------------------------------------------------- parameters

/** Reads the flow parameters of a query or form body; a repeated parameter is refused. */
function readParams(source: unknown): Params {
  const params: Params = new Map();
  if (typeof source !== 'object' || source === null) return params;
  for (const [key, value] of Object.entries(source)) {
    if (RESERVED_FIELDS.has(key)) continue;
    if (Array.isArray(value)) throw new WebviewError(400, `The parameter ${key} is given more than once.`);
    if (typeof value === 'string') params.set(key, value);
  }
  return params;
}

function formField(body: unknown, name: string): string | undefined {
  if (typeof body !== 'object' || body === null) return undefined;
  const value: unknown = (body as Record<string, unknown>)[name];
  if (typeof value === 'string') return value;
  if (Array.isArray(value)) throw new WebviewError(400, `The field ${name} is given more than once.`);
  return undefined;
}

function parseId(value: string | undefined): number | undefined {
  if (value === undefined || !/^[0-9]{1,15}$/.test(value)) return undefined;
  return Number(value);
}

function listParam(value: string | undefined): string[] | undefined {
  if (value === undefined || value.trim() === '') return undefined;
  return value
    .split(',')
    .map((v) => v.trim())
    .filter((v) => v !== '');
}

// ---------------------------------------------------------------- validation

function validate(ctx: EmulatorContext, flow: Flow, lang: string, params: Params, webviewSession: string | undefined): FlowContext {
  const domain = params.get('domain');
  if (domain === undefined || domain === '') throw new WebviewError(400, 'Missing parameter: domain.');
  if (domain !== ctx.domain) throw new WebviewError(400, 'Unknown domain: this webview does not serve it.');

  const clientId = params.get('client_id');
  if (clientId === undefined || clientId === '') throw new WebviewError(400, 'Missing parameter: client_id.');
  const client = findClient(ctx, clientId);
  if (client === undefined) throw new WebviewError(400, 'Unknown client_id.');

  let redirectUri = params.get('redirect_uri');
  if (redirectUri === '') redirectUri = undefined;
  if (redirectUri === undefined && flow !== 'manage') {
    throw new WebviewError(400, 'Missing parameter: redirect_uri.');
  }
  if (redirectUri !== undefined && !redirectUriAllowed(redirectUri, client.redirectUris)) {
    throw new WebviewError(400, 'The redirect_uri is not white-listed for this client application.');
  }

  let code = params.get('code');
  if (code === '') code = undefined;
  if (code === undefined && flow !== 'connect') throw new WebviewError(400, 'Missing parameter: code.');
  let userId: number | undefined;
  let viaSession = false;
  if (code !== undefined) {
    const sessionUser = webviewSession === undefined ? undefined : ctx.store.webviewSessionUser(webviewSession, code);
    if (sessionUser !== undefined) {
      userId = sessionUser;
      viaSession = true;
    } else {
      const check = ctx.store.checkTemporaryCode(code);
      if (!check.ok) {
        const why = check.reason === 'consumed' ? 'has already been used' : check.reason === 'expired' ? 'has expired' : 'is not valid';
        throw new WebviewError(400, `The code ${why}.`);
      }
      userId = check.userId;
    }
  }

  let connection: ConnectionRecord | undefined;
  const connectionParam = params.get('connection_id');
  if (flow === 'reconnect' && (connectionParam === undefined || connectionParam === '')) {
    throw new WebviewError(400, 'Missing parameter: connection_id.');
  }
  if (flow !== 'connect' && connectionParam !== undefined && connectionParam !== '') {
    const id = parseId(connectionParam);
    const found = id === undefined ? undefined : ctx.store.connection(id);
    if (found === undefined || found.userId !== userId) throw new WebviewError(400, 'Unknown connection_id.');
    connection = found;
  }

  let connectors = [...CONNECTORS];
  if (flow === 'connect') {
    const ids = listParam(params.get('connector_ids'));
    const uuids = listParam(params.get('connector_uuids'));
    if (ids !== undefined) connectors = connectors.filter((c) => ids.includes(String(c.id)));
    if (uuids !== undefined) connectors = connectors.filter((c) => uuids.includes(c.uuid));
    if (connectors.length === 0) throw new WebviewError(400, 'No connector matches connector_ids / connector_uuids.');
  }

  return {
    flow,
    lang,
    params,
    client,
    redirectUri,
    state: params.get('state'),
    code,
    userId,
    viaSession,
    connection,
    connectors,
  };
}

// ---------------------------------------------------------------- rendering

function securityHeaders(res: Response, redirectUri: string | undefined): void {
  let formAction = "'self'";
  if (redirectUri !== undefined) {
    try {
      formAction += ` ${new URL(redirectUri).origin}`;
    } catch {
      // validated before; nothing to add
    }
  }
  res.setHeader(
    'Content-Security-Policy',
    `default-src 'none'; style-src 'self'; img-src 'self' data:; form-action ${formAction}; frame-ancestors 'none'; base-uri 'none'`,
  );
  res.setHeader('Referrer-Policy', 'no-referrer');
  res.setHeader('Cache-Control', 'no-store');
  res.setHeader('X-Content-Type-Options', 'nosniff');
  res.setHeader('X-Frame-Options', 'DENY');
}

// A data: URL (allowed by img-src): no request for /favicon.ico, which would be a 404.
const FAVICON =
  "data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 32 32'%3E%3Crect width='32' height='32' rx='8' fill='%230f62fe'/%3E%3Ccircle cx='16' cy='16' r='7' fill='none' stroke='white' stroke-width='3'/%3E%3C/svg%3E";

function layout(ctx: EmulatorContext, lang: string, title: string, body: string): string {
  return `<!doctype html>
<html lang="${escapeHtml(lang)}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)} · Powens</title>
<link rel="icon" href="${FAVICON}">
<link rel="stylesheet" href="${escapeHtml(ctx.basePath())}/static/webview.css">
</head>
<body>
<main class="card">
<header class="brand"><span class="logo"><span class="logo-mark" aria-hidden="true"></span>powens</span><span class="secure">Secure connection</span></header>
${body}
</main>
<footer class="emulator-note">Powens emulator: a local stand-in for the Powens webview. No real bank is contacted.</footer>
</body>
</html>
`;
}

function errorPage(ctx: EmulatorContext, res: Response, lang: string, status: number, message: string): void {
  securityHeaders(res, undefined);
  res
    .status(status)
    .type('html')
    .send(
      layout(
        ctx,
        lang,
        'Error',
        `<h1>This page cannot be shown</h1>
<p class="error-message" id="error" role="alert">${escapeHtml(message)}</p>
<p class="error-status">Error ${status}. Go back to the application and try again.</p>`,
      ),
    );
}

function hiddenInputs(f: FlowContext, extra: Record<string, string> = {}): string {
  const fields: string[] = [];
  for (const [name, value] of f.params) {
    fields.push(`<input type="hidden" name="${escapeHtml(name)}" value="${escapeHtml(value)}">`);
  }
  for (const [name, value] of Object.entries(extra)) {
    fields.push(`<input type="hidden" name="${escapeHtml(name)}" value="${escapeHtml(value)}">`);
  }
  return fields.join('\n');
}

function formOpen(ctx: EmulatorContext, f: FlowContext): string {
  return `<form method="post" action="${escapeHtml(`${ctx.basePath()}/${f.lang}/${f.flow}`)}" class="webview-form">`;
}

function formError(message: string | undefined): string {
  return message === undefined ? '' : `<p class="form-error" id="error" role="alert">${escapeHtml(message)}</p>\n`;
}

function credentialFields(): string {
  return `<div class="field"><label for="wv-login">Login</label><input id="wv-login" name="login" type="text" autocomplete="username" required></div>
<div class="field"><label for="wv-password">Password</label><input id="wv-password" name="password" type="password" autocomplete="current-password" required></div>`;
}

function renderConnect(ctx: EmulatorContext, f: FlowContext, error?: string, selected?: number): string {
  const chosen = f.connectors.some((c) => c.id === selected) ? selected : f.connectors[0]?.id;
  const banks = f.connectors
    .map((c) => {
      const index = CONNECTORS.findIndex((k) => k.id === c.id);
      const checked = c.id === chosen ? ' checked' : '';
      const kind = c.capabilities.includes('transfer') ? 'Bank · transfers' : 'Bank';
      return `<li><label class="bank"><input type="radio" name="connector_id" value="${c.id}"${checked}><span class="bank-logo bank-logo-${index % 4}">${escapeHtml(c.name.charAt(0))}</span><span class="bank-text"><span class="bank-name">${escapeHtml(c.name)}</span><span class="bank-meta">${escapeHtml(kind)} · ${escapeHtml(c.country)}</span></span></label></li>`;
    })
    .join('\n');
  const testHint = f.connectors.some((c) => c.id === TEST_CONNECTOR_ID)
    ? ` With “Connecteur de test”, a login such as <code>SCARequired</code> or <code>wrongpass</code> creates the connection in that state.`
    : '';
  return layout(
    ctx,
    f.lang,
    'Connect your bank',
    `<h1>Connect your bank</h1>
<p class="lead">Choose your bank, then sign in with your online banking credentials. Your app never sees them.</p>
${formError(error)}${formOpen(ctx, f)}
${hiddenInputs(f)}
<fieldset><legend><span class="step">1</span>Choose your bank</legend>
<ul class="bank-list">
${banks}
</ul>
</fieldset>
<fieldset><legend><span class="step">2</span>Sign in to your bank</legend>
${credentialFields()}
<p class="hint">Emulator: any login and password are accepted.${testHint}</p>
</fieldset>
<p class="terms">By connecting, you accept Powens’ terms of service and privacy policy. Your data is shared read-only.</p>
<div class="actions actions-stacked">
<button type="submit" name="action" value="connect" class="btn-primary btn-block">Connect</button>
<div class="actions-secondary">
<button type="submit" name="action" value="cancel" class="btn-secondary" formnovalidate>Cancel</button>
<button type="submit" name="action" value="decline" class="btn-link" formnovalidate>Decline terms</button>
</div>
</div>
</form>`,
  );
}

function stateLine(ctx: EmulatorContext, c: ConnectionRecord): string {
  if (c.state === null) {
    return `<span class="connection-state">Up to date${c.lastUpdate === null ? '' : `, last synced ${escapeHtml(c.lastUpdate)}`}</span>`;
  }
  const message = c.errorMessage === null ? '' : `: ${escapeHtml(c.errorMessage)}`;
  return `<span class="connection-state connection-state-error">${escapeHtml(c.state)}${message}</span>`;
}

function renderReconnect(ctx: EmulatorContext, f: FlowContext, error?: string): string {
  const c = f.connection;
  if (c === undefined) throw new WebviewError(400, 'Missing parameter: connection_id.');
  const connector = ctx.store.connectorOf(c);
  const askCredentials = f.params.get('reset_credentials') === 'true';
  return layout(
    ctx,
    f.lang,
    'Reconnect your bank',
    `<h1>Reconnect ${escapeHtml(connector.name)}</h1>
<p class="lead">Your bank needs you to sign in again so that your accounts keep updating.</p>
${formError(error)}<ul class="connections">
<li class="connection"><span class="connection-info"><span class="bank-name">${escapeHtml(connector.name)}</span>${stateLine(ctx, c)}</span></li>
</ul>
${formOpen(ctx, f)}
${hiddenInputs(f)}
${askCredentials ? credentialFields() : ''}
<div class="actions">
<button type="submit" name="action" value="reconnect" class="btn-primary">Reconnect</button>
<button type="submit" name="action" value="cancel" class="btn-secondary" formnovalidate>Cancel</button>
</div>
</form>`,
  );
}

function renderManage(ctx: EmulatorContext, f: FlowContext, session: string | undefined, notice?: string): string {
  const userId = f.userId;
  const connections = userId === undefined ? [] : ctx.store.connectionsOf(userId);
  const extra: Record<string, string> = session === undefined ? {} : { webview_session: session };
  const items =
    connections.length === 0
      ? '<p class="empty">No bank connection.</p>'
      : `<ul class="connections">\n${connections
          .map((c) => {
            const connector = ctx.store.connectorOf(c);
            return `<li class="connection"><span class="connection-info"><span class="bank-name">${escapeHtml(connector.name)}</span>${stateLine(ctx, c)}</span><button type="submit" name="action" value="remove:${c.id}" class="btn-danger" formnovalidate>Remove</button></li>`;
          })
          .join('\n')}\n</ul>`;
  const done =
    f.redirectUri === undefined ? '' : '<div class="actions"><button type="submit" name="action" value="done" class="btn-primary">Done</button></div>';
  return layout(
    ctx,
    f.lang,
    'Manage your bank connections',
    `<h1>Your bank connections</h1>
<p class="lead">Remove the connections you no longer want to share.</p>
${notice === undefined ? '' : `<p class="notice" role="status">${escapeHtml(notice)}</p>\n`}${formOpen(ctx, f)}
${hiddenInputs(f, extra)}
${items}
${done}
</form>`,
  );
}

// ---------------------------------------------------------------- outcomes

/** The redirect URI as a header-safe string (normalised only when it holds unusual characters). */
function headerSafe(uri: string): string {
  return /^[\x21-\x7e]*$/.test(uri) ? uri : new URL(uri).href;
}

function returnTo(res: Response, f: FlowContext, values: Record<string, string | undefined>): void {
  if (f.redirectUri === undefined) throw new WebviewError(400, 'There is no redirect_uri to return to.');
  const query = new URLSearchParams();
  for (const [k, v] of Object.entries(values)) if (v !== undefined) query.append(k, v);
  if (f.state !== undefined) query.append('state', f.state);
  securityHeaders(res, f.redirectUri);
  res.status(303).setHeader('Location', appendQuery(headerSafe(f.redirectUri), query));
  res.end();
}

function sendPage(res: Response, f: FlowContext, status: number, html: string): void {
  securityHeaders(res, f.redirectUri);
  res.status(status).type('html').send(html);
}

function submit(ctx: EmulatorContext, req: Request, res: Response, f: FlowContext): void {
  const action = formField(req.body, 'action');
  // The form is submitted: a single-use code is used up now, whatever the button.
  // The manage page stays usable after that through a webview session carried by its form.
  let session: string | undefined;
  if (f.code !== undefined && f.userId !== undefined) {
    if (f.viaSession) session = formField(req.body, 'webview_session');
    else {
      ctx.store.consumeTemporaryCode(f.code);
      if (f.flow === 'manage') session = ctx.store.openWebviewSession(f.code, f.userId);
    }
  }

  if (action === 'cancel' && f.flow !== 'manage') {
    returnTo(res, f, { error: 'access_denied', error_description: 'User cancelled' });
    return;
  }

  if (f.flow === 'connect') {
    if (action === 'decline') {
      returnTo(res, f, { error: 'tos_declined', error_description: 'User declined the terms of service' });
      return;
    }
    if (action !== 'connect') throw new WebviewError(400, 'Unknown action.');
    const connectorId = parseId(formField(req.body, 'connector_id'));
    const connector = f.connectors.find((c) => c.id === connectorId);
    if (connector === undefined) {
      sendPage(res, f, 400, renderConnect(ctx, f, 'Choose your bank.'));
      return;
    }
    const login = formField(req.body, 'login') ?? '';
    const password = formField(req.body, 'password') ?? '';
    if (login.trim() === '' || password === '') {
      sendPage(res, f, 400, renderConnect(ctx, f, 'Enter your login and password.', connector.id));
      return;
    }
    let state: string | null = null;
    let errorMessage: string | null = null;
    if (connector.id === TEST_CONNECTOR_ID && Object.hasOwn(SIMULATED_STATES, login)) {
      state = login;
      errorMessage = SIMULATED_STATES[login] ?? null;
    }
    if (f.userId !== undefined) {
      const connection = ctx.store.addConnection(f.userId, connector.id, { state, errorMessage });
      returnTo(res, f, { connection_id: String(connection.id) });
      return;
    }
    const user = ctx.store.createUser();
    const connection = ctx.store.addConnection(user.id, connector.id, { state, errorMessage });
    const redirectUri = f.redirectUri;
    if (redirectUri === undefined) throw new WebviewError(400, 'Missing parameter: redirect_uri.');
    const code = ctx.store.issueAuthorizationCode(user.id, f.client.clientId, redirectUri);
    returnTo(res, f, { code, connection_id: String(connection.id) });
    return;
  }

  if (f.flow === 'reconnect') {
    if (action !== 'reconnect') throw new WebviewError(400, 'Unknown action.');
    const c = f.connection;
    if (c === undefined || ctx.store.connection(c.id) === undefined) throw new WebviewError(400, 'Unknown connection_id.');
    if (f.params.get('reset_credentials') === 'true') {
      const login = formField(req.body, 'login') ?? '';
      const password = formField(req.body, 'password') ?? '';
      if (login.trim() === '' || password === '') {
        sendPage(res, f, 400, renderReconnect(ctx, f, 'Enter your login and password.'));
        return;
      }
    }
    ctx.store.patchConnection(c.id, { state: null, error_message: null, last_update: powensDate(ctx.now()) });
    returnTo(res, f, { connection_id: String(c.id) });
    return;
  }

  // manage
  if (action === 'done') {
    returnTo(res, f, {});
    return;
  }
  const removeMatch = action === undefined ? null : /^remove:([0-9]{1,15})$/.exec(action);
  if (removeMatch === null) throw new WebviewError(400, 'Unknown action.');
  const id = Number(removeMatch[1]);
  const c = ctx.store.connection(id);
  if (c === undefined || c.userId !== f.userId) throw new WebviewError(400, 'Unknown connection.');
  const name = ctx.store.connectorOf(c).name;
  ctx.store.deleteConnection(id);
  sendPage(res, f, 200, renderManage(ctx, f, session, `${name} was removed.`));
}

// ---------------------------------------------------------------- router

function langOf(req: Request): string | undefined {
  const lang = req.params['lang'];
  return typeof lang === 'string' && (WEBVIEW_LANGS as readonly string[]).includes(lang) ? lang : undefined;
}

export function createWebviewRouter(ctx: EmulatorContext): Router {
  const router = express.Router();
  const form = express.urlencoded({ extended: false, limit: '32kb', parameterLimit: 200 });

  router.get('/static/webview.css', (_req, res) => {
    res.setHeader('Cache-Control', 'public, max-age=300');
    res.setHeader('X-Content-Type-Options', 'nosniff');
    res.type('text/css').send(WEBVIEW_CSS);
  });

  for (const flow of FLOWS) {
    // The bare path (no language) has been seen answering 503 at Powens.
    router.all(`/${flow}`, (_req, res) => {
      errorPage(ctx, res, 'en', 503, 'Service unavailable. Add a language to the path, e.g. /en/' + flow + '.');
    });

    router.get(`/:lang/${flow}`, (req, res) => {
      const lang = langOf(req);
      if (lang === undefined) {
        errorPage(ctx, res, 'en', 404, 'Unknown language.');
        return;
      }
      try {
        const f = validate(ctx, flow, lang, readParams(req.query), undefined);
        const html = flow === 'connect' ? renderConnect(ctx, f) : flow === 'reconnect' ? renderReconnect(ctx, f) : renderManage(ctx, f, undefined);
        sendPage(res, f, 200, html);
      } catch (err: unknown) {
        if (err instanceof WebviewError) errorPage(ctx, res, lang, err.status, err.message);
        else throw err;
      }
    });

    router.post(`/:lang/${flow}`, form, (req, res) => {
      const lang = langOf(req);
      if (lang === undefined) {
        errorPage(ctx, res, 'en', 404, 'Unknown language.');
        return;
      }
      try {
        const session = formField(req.body, 'webview_session');
        const f = validate(ctx, flow, lang, readParams(req.body), session);
        submit(ctx, req, res, f);
      } catch (err: unknown) {
        if (err instanceof WebviewError) errorPage(ctx, res, lang, err.status, err.message);
        else throw err;
      }
    });
  }

  return router;
}

export { errorPage as renderWebviewErrorPage };
