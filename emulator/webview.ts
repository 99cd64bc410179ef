import express, { type Request, type Response, type Router } from 'express';
import { CONNECTORS, type EmulatorConnector, SIMULATED_STATES, TEST_CONNECTOR_ID } from './connectors.js';
import { EXPIRING_CONSENT_DAYS, MAGIC_LOGIN_HELP, MAGIC_LOGINS, magicLogins, OTP_CODE, RENEWED_CONSENT_DAYS, stepsOf } from './logins.js';
import { type MessageKey, type PageLang, pageLang, text } from './messages.js';
import type { ConnectionRecord, LoginProgress, LoginStep, WebviewSession } from './store.js';
import { type EmulatorClient, type EmulatorContext, findClient } from './types.js';
import { appendQuery, escapeHtml, redirectUriAllowed } from './util.js';
import { WEBVIEW_CSS } from './webview-css.js';

export const WEBVIEW_LANGS = ['en', 'fr', 'de', 'nl', 'pt', 'it', 'es'] as const;
const FLOWS = ['connect', 'reconnect', 'manage'] as const;
type Flow = (typeof FLOWS)[number];

/** Form fields of the emulator's own pages; never carried over as flow parameters. */
const RESERVED_FIELDS = new Set(['action', 'connector_id', 'login', 'password', 'webview_session', 'otp', 'answer']);

type Params = Map<string, string>;

interface FlowContext {
  flow: Flow;
  /** The language segment of the path (any of Powens' languages). */
  lang: string;
  /** The language the pages are written in: French for `fr`, English otherwise. */
  ui: PageLang;
  params: Params;
  client: EmulatorClient;
  redirectUri: string | undefined;
  state: string | undefined;
  code: string | undefined;
  /** The Powens user the given `code` belongs to. */
  userId: number | undefined;
  /** The webview session the form carried (its code already used), or the one opened by this submission. */
  session: { id: string; record: WebviewSession } | undefined;
  connection: ConnectionRecord | undefined;
  connectors: EmulatorConnector[];
}

class WebviewError extends Error {
  constructor(
    readonly status: number,
    readonly key: MessageKey,
    readonly values: Record<string, string> = {},
  ) {
    super(text('en', key, values));
  }
}

// ---------------------------------------------------------------- parameters

/** Reads the flow parameters of a query or form body; a repeated parameter is refused. */
function readParams(source: unknown): Params {
  const params: Params = new Map();
  if (typeof source !== 'object' || source === null) return params;
  for (const [key, value] of Object.entries(source)) {
    if (RESERVED_FIELDS.has(key)) continue;
    if (Array.isArray(value)) throw new WebviewError(400, 'repeatedParameter', { name: key });
    if (typeof value === 'string') params.set(key, value);
  }
  return params;
}

function formField(body: unknown, name: string): string | undefined {
  if (typeof body !== 'object' || body === null) return undefined;
  const value: unknown = (body as Record<string, unknown>)[name];
  if (typeof value === 'string') return value;
  if (Array.isArray(value)) throw new WebviewError(400, 'repeatedField', { name });
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
  if (domain === undefined || domain === '') throw new WebviewError(400, 'missingParameter', { name: 'domain' });
  if (domain !== ctx.domain) throw new WebviewError(400, 'unknownDomain');

  const clientId = params.get('client_id');
  if (clientId === undefined || clientId === '') throw new WebviewError(400, 'missingParameter', { name: 'client_id' });
  const client = findClient(ctx, clientId);
  if (client === undefined) throw new WebviewError(400, 'unknownClient');

  let redirectUri = params.get('redirect_uri');
  if (redirectUri === '') redirectUri = undefined;
  if (redirectUri === undefined && flow !== 'manage') throw new WebviewError(400, 'missingParameter', { name: 'redirect_uri' });
  if (redirectUri !== undefined && !redirectUriAllowed(redirectUri, client.redirectUris)) throw new WebviewError(400, 'redirectNotAllowed');

  let code = params.get('code');
  if (code === '') code = undefined;
  if (code === undefined && flow !== 'connect') throw new WebviewError(400, 'missingParameter', { name: 'code' });
  const record = webviewSession === undefined ? undefined : ctx.store.webviewSession(webviewSession, code);
  const session = webviewSession === undefined || record === undefined ? undefined : { id: webviewSession, record };
  let userId: number | undefined;
  if (session !== undefined) userId = session.record.userId;
  else if (code !== undefined) {
    const check = ctx.store.checkTemporaryCode(code);
    if (!check.ok) throw new WebviewError(400, check.reason === 'consumed' ? 'codeUsed' : check.reason === 'expired' ? 'codeExpired' : 'codeInvalid');
    userId = check.userId;
  }

  let connection: ConnectionRecord | undefined;
  const connectionParam = params.get('connection_id');
  if (flow === 'reconnect' && (connectionParam === undefined || connectionParam === '')) {
    throw new WebviewError(400, 'missingParameter', { name: 'connection_id' });
  }
  if (flow !== 'connect' && connectionParam !== undefined && connectionParam !== '') {
    const id = parseId(connectionParam);
    const found = id === undefined ? undefined : ctx.store.connection(id);
    if (found === undefined || found.userId !== userId) throw new WebviewError(400, 'unknownConnection');
    connection = found;
  }

  let connectors = CONNECTORS.filter((c) => !c.hidden);
  if (flow === 'connect') {
    // DOCS webview: both lists combine; a single connector skips the bank chooser.
    const ids = listParam(params.get('connector_ids'));
    const uuids = listParam(params.get('connector_uuids'))?.map((u) => u.toLowerCase());
    if (ids !== undefined) connectors = connectors.filter((c) => ids.includes(String(c.id)));
    if (uuids !== undefined) connectors = connectors.filter((c) => uuids.includes(c.uuid));
    if (connectors.length === 0) throw new WebviewError(400, 'noConnector');
  }

  return {
    flow,
    lang,
    ui: pageLang(lang),
    params,
    client,
    redirectUri,
    state: params.get('state'),
    code,
    userId,
    session,
    connection,
    connectors,
  };
}

// ---------------------------------------------------------------- rendering

function securityHeaders(res: Response): void {
  // No form-action: Chromium checks it on every redirect that follows a form submission, so the
  // service's 303 from /callback on to the app's own origin would be blocked. Powens' webview
  // navigates to the redirect_uri itself and sets no such rule, and the emulator must not block
  // a hop that production allows.
  res.setHeader('Content-Security-Policy', "default-src 'none'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'");
  res.setHeader('Referrer-Policy', 'no-referrer');
  res.setHeader('Cache-Control', 'no-store');
  res.setHeader('X-Content-Type-Options', 'nosniff');
  res.setHeader('X-Frame-Options', 'DENY');
}

// A data: URL (allowed by img-src): no request for /favicon.ico, which would be a 404.
const FAVICON =
  "data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 32 32'%3E%3Crect width='32' height='32' rx='8' fill='%230f62fe'/%3E%3Ccircle cx='16' cy='16' r='7' fill='none' stroke='white' stroke-width='3'/%3E%3C/svg%3E";

function layout(ctx: EmulatorContext, ui: PageLang, title: string, body: string): string {
  return `<!doctype html>
<html lang="${ui}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)} · Powens</title>
<link rel="icon" href="${FAVICON}">
<link rel="stylesheet" href="${escapeHtml(ctx.basePath())}/static/webview.css">
</head>
<body>
<main class="card">
<header class="brand"><span class="logo"><span class="logo-mark" aria-hidden="true"></span>powens</span><span class="secure">${escapeHtml(text(ui, 'secureConnection'))}</span></header>
${body}
</main>
<footer class="emulator-note">${escapeHtml(text(ui, 'emulatorNote'))}</footer>
</body>
</html>
`;
}

/** An error page; `message` is already in the page's language. */
function errorPage(ctx: EmulatorContext, res: Response, lang: string, status: number, message: string): void {
  const ui = pageLang(lang);
  securityHeaders(res);
  res
    .status(status)
    .type('html')
    .send(
      layout(
        ctx,
        ui,
        text(ui, 'error'),
        `<h1>${escapeHtml(text(ui, 'errorTitle'))}</h1>
<p class="error-message" id="error" role="alert">${escapeHtml(message)}</p>
<p class="error-status">${escapeHtml(text(ui, 'errorStatus', { status }))}</p>`,
      ),
    );
}

function hiddenInputs(f: FlowContext): string {
  const fields: string[] = [];
  for (const [name, value] of f.params) {
    fields.push(`<input type="hidden" name="${escapeHtml(name)}" value="${escapeHtml(value)}">`);
  }
  if (f.session !== undefined) fields.push(`<input type="hidden" name="webview_session" value="${escapeHtml(f.session.id)}">`);
  return fields.join('\n');
}

/** The page's form; `step` names what it asks (the driver and the tests read it). */
function formOpen(ctx: EmulatorContext, f: FlowContext, step: string): string {
  return `<form method="post" action="${escapeHtml(`${ctx.basePath()}/${f.lang}/${f.flow}`)}" class="webview-form" data-step="${step}">`;
}

function formError(message: string | undefined): string {
  return message === undefined ? '' : `<p class="form-error" id="error" role="alert">${escapeHtml(message)}</p>\n`;
}

function credentialFields(ui: PageLang, login = ''): string {
  return `<div class="field"><label for="wv-login">${escapeHtml(text(ui, 'login'))}</label><input id="wv-login" name="login" type="text" autocomplete="username" value="${escapeHtml(login)}" required></div>
<div class="field"><label for="wv-password">${escapeHtml(text(ui, 'password'))}</label><input id="wv-password" name="password" type="password" autocomplete="current-password" required></div>`;
}

/** The test logins, listed where credentials are typed. */
function magicHint(ui: PageLang, withTestConnector: boolean): string {
  const items = MAGIC_LOGINS.map(
    (m) => `<li><code>${m}</code>: ${escapeHtml(text(ui, MAGIC_LOGIN_HELP[m], { code: OTP_CODE, days: EXPIRING_CONSENT_DAYS }))}</li>`,
  ).join('\n');
  const test = withTestConnector ? `\n<p class="hint">${escapeHtml(text(ui, 'hintTestConnector'))}</p>` : '';
  return `<div class="test-logins" id="test-logins">
<p class="hint">${escapeHtml(text(ui, 'hintAny'))} ${escapeHtml(text(ui, 'hintMagic'))}</p>
<ul class="hint">
${items}
</ul>
<p class="hint">${escapeHtml(text(ui, 'magicCombine'))}</p>${test}
</div>`;
}

interface CredentialsPageOptions {
  error?: string;
  login?: string;
  /** `wrongpass` when the bank just refused the password. */
  step?: 'credentials' | 'wrongpass';
}

interface ConnectPageOptions extends CredentialsPageOptions {
  selected?: number;
}

function renderConnect(ctx: EmulatorContext, f: FlowContext, opts: ConnectPageOptions = {}): string {
  const ui = f.ui;
  const chosen = f.connectors.some((c) => c.id === opts.selected) ? opts.selected : f.connectors[0]?.id;
  const logo = (c: EmulatorConnector): string => {
    const index = CONNECTORS.findIndex((k) => k.id === c.id);
    return `<span class="bank-logo bank-logo-${index % 4}">${escapeHtml(c.name.charAt(0))}</span>`;
  };
  const meta = (c: EmulatorConnector): string => `${text(ui, c.capabilities.includes('transfer') ? 'kindTransfers' : 'kindBank')} · ${c.country}`;
  const only = f.connectors.length === 1 ? f.connectors[0] : undefined;
  let chooser: string;
  let signIn: string;
  if (only !== undefined) {
    // One connector asked for: no chooser (DOCS webview, `connector_uuids`).
    chooser = `<div class="bank bank-only" id="bank-only"><input type="hidden" name="connector_id" value="${only.id}">${logo(only)}<span class="bank-text"><span class="bank-name">${escapeHtml(only.name)}</span><span class="bank-meta">${escapeHtml(meta(only))}</span></span></div>`;
    signIn = text(ui, 'signInTo', { bank: only.name });
  } else {
    const banks = f.connectors
      .map((c) => {
        const checked = c.id === chosen ? ' checked' : '';
        return `<li><label class="bank"><input type="radio" name="connector_id" value="${c.id}"${checked}>${logo(c)}<span class="bank-text"><span class="bank-name">${escapeHtml(c.name)}</span><span class="bank-meta">${escapeHtml(meta(c))}</span></span></label></li>`;
      })
      .join('\n');
    chooser = `<fieldset><legend><span class="step">1</span>${escapeHtml(text(ui, 'chooseBank'))}</legend>
<ul class="bank-list">
${banks}
</ul>
</fieldset>`;
    signIn = text(ui, 'signInBank');
  }
  return layout(
    ctx,
    ui,
    text(ui, 'connectTitle'),
    `<h1>${escapeHtml(text(ui, 'connectTitle'))}</h1>
<p class="lead">${escapeHtml(text(ui, only === undefined ? 'connectLead' : 'connectOneLead'))}</p>
${formError(opts.error)}${formOpen(ctx, f, opts.step ?? 'credentials')}
${hiddenInputs(f)}
${chooser}
<fieldset><legend>${only === undefined ? '<span class="step">2</span>' : ''}${escapeHtml(signIn)}</legend>
${credentialFields(ui, opts.login)}
${magicHint(
  ui,
  f.connectors.some((c) => c.id === TEST_CONNECTOR_ID),
)}
</fieldset>
<p class="terms">${escapeHtml(text(ui, 'terms'))}</p>
<div class="actions actions-stacked">
<button type="submit" name="action" value="connect" class="btn-primary btn-block">${escapeHtml(text(ui, 'connect'))}</button>
<div class="actions-secondary">
<button type="submit" name="action" value="cancel" class="btn-secondary" formnovalidate>${escapeHtml(text(ui, 'cancel'))}</button>
<button type="submit" name="action" value="decline" class="btn-link" formnovalidate>${escapeHtml(text(ui, 'decline'))}</button>
</div>
</div>
</form>`,
  );
}

function stateLine(ui: PageLang, c: ConnectionRecord): string {
  const consent = c.expire === null ? '' : ` · ${escapeHtml(text(ui, 'consentUntil', { date: c.expire }))}`;
  if (c.state === null) {
    const synced = c.lastUpdate === null ? '' : `, ${escapeHtml(text(ui, 'lastSynced', { date: c.lastUpdate }))}`;
    return `<span class="connection-state">${escapeHtml(text(ui, 'upToDate'))}${synced}${consent}</span>`;
  }
  const message = c.errorMessage === null ? '' : `: ${escapeHtml(c.errorMessage)}`;
  return `<span class="connection-state connection-state-error">${escapeHtml(c.state)}${message}${consent}</span>`;
}

function resetsCredentials(f: FlowContext): boolean {
  return f.params.get('reset_credentials') === 'true';
}

function renderReconnect(ctx: EmulatorContext, f: FlowContext, opts: CredentialsPageOptions = {}): string {
  const ui = f.ui;
  const c = f.connection;
  if (c === undefined) throw new WebviewError(400, 'missingParameter', { name: 'connection_id' });
  const connector = ctx.store.connectorOf(c);
  const reset = resetsCredentials(f);
  return layout(
    ctx,
    ui,
    text(ui, 'reconnectTitle'),
    `<h1>${escapeHtml(text(ui, 'reconnectHeading', { bank: connector.name }))}</h1>
<p class="lead">${escapeHtml(text(ui, reset ? 'reconnectResetLead' : 'reconnectLead'))}</p>
${formError(opts.error)}<ul class="connections">
<li class="connection"><span class="connection-info"><span class="bank-name">${escapeHtml(connector.name)}</span>${stateLine(ui, c)}</span></li>
</ul>
${formOpen(ctx, f, reset ? (opts.step ?? 'credentials') : 'reconnect')}
${hiddenInputs(f)}
${reset ? `${credentialFields(ui, opts.login)}\n${magicHint(ui, false)}` : ''}
<div class="actions">
<button type="submit" name="action" value="reconnect" class="btn-primary">${escapeHtml(text(ui, 'reconnect'))}</button>
<button type="submit" name="action" value="cancel" class="btn-secondary" formnovalidate>${escapeHtml(text(ui, 'cancel'))}</button>
</div>
</form>`,
  );
}

function renderManage(ctx: EmulatorContext, f: FlowContext, notice?: string): string {
  const ui = f.ui;
  const userId = f.userId;
  const connections = userId === undefined ? [] : ctx.store.connectionsOf(userId);
  const items =
    connections.length === 0
      ? `<p class="empty">${escapeHtml(text(ui, 'noConnection'))}</p>`
      : `<ul class="connections">\n${connections
          .map((c) => {
            const connector = ctx.store.connectorOf(c);
            return `<li class="connection"><span class="connection-info"><span class="bank-name">${escapeHtml(connector.name)}</span>${stateLine(ui, c)}</span><button type="submit" name="action" value="remove:${c.id}" class="btn-danger" formnovalidate>${escapeHtml(text(ui, 'remove'))}</button></li>`;
          })
          .join('\n')}\n</ul>`;
  const done =
    f.redirectUri === undefined
      ? ''
      : `<div class="actions"><button type="submit" name="action" value="done" class="btn-primary">${escapeHtml(text(ui, 'done'))}</button></div>`;
  return layout(
    ctx,
    ui,
    text(ui, 'manageTitle'),
    `<h1>${escapeHtml(text(ui, 'manageHeading'))}</h1>
<p class="lead">${escapeHtml(text(ui, 'manageLead'))}</p>
${notice === undefined ? '' : `<p class="notice" role="status">${escapeHtml(notice)}</p>\n`}${formOpen(ctx, f, 'manage')}
${hiddenInputs(f)}
${items}
${done}
</form>`,
  );
}

/** The bank a sign-in in progress is with. */
function bankOf(ctx: EmulatorContext, f: FlowContext, progress: LoginProgress): string {
  if (f.connection !== undefined) return ctx.store.connectorOf(f.connection).name;
  return CONNECTORS.find((c) => c.id === progress.connectorId)?.name ?? `Connector ${progress.connectorId}`;
}

interface StepPageOptions {
  error?: string;
  notice?: string;
}

/** The page of the step a sign-in is at: a one-time code, an approval in the banking app, or a question. */
function renderStep(ctx: EmulatorContext, f: FlowContext, progress: LoginProgress, step: LoginStep, opts: StepPageOptions = {}): string {
  const ui = f.ui;
  const bank = bankOf(ctx, f, progress);
  const cancel = `<button type="submit" name="action" value="cancel" class="btn-secondary" formnovalidate>${escapeHtml(text(ui, 'cancel'))}</button>`;
  const notice = opts.notice === undefined ? '' : `<p class="notice" role="status">${escapeHtml(opts.notice)}</p>\n`;
  const page = (title: MessageKey, lead: string, name: string, fields: string, buttons: string): string =>
    layout(
      ctx,
      ui,
      text(ui, title),
      `<h1>${escapeHtml(text(ui, title))}</h1>
<p class="lead">${escapeHtml(lead)}</p>
${formError(opts.error)}${notice}${formOpen(ctx, f, name)}
${hiddenInputs(f)}
${fields}
<div class="actions">
${buttons}
${cancel}
</div>
</form>`,
    );
  switch (step) {
    case 'otp':
      return page(
        'otpTitle',
        text(ui, 'otpLead', { bank }),
        opts.error === undefined ? 'otp' : 'otp-retry',
        `<div class="field"><label for="wv-otp">${escapeHtml(text(ui, 'otpLabel'))}</label><input id="wv-otp" name="otp" type="text" inputmode="numeric" autocomplete="one-time-code" pattern="[0-9]{6}" maxlength="6" required></div>
<p class="hint">${escapeHtml(text(ui, 'otpHint', { code: OTP_CODE }))}</p>`,
        `<button type="submit" name="action" value="otp" class="btn-primary">${escapeHtml(text(ui, 'confirm'))}</button>`,
      );
    case 'decoupled':
      return page(
        'decoupledTitle',
        text(ui, 'decoupledLead', { bank }),
        progress.approved ? 'decoupled-approved' : opts.error === undefined ? 'decoupled' : 'decoupled-waiting',
        progress.approved
          ? ''
          : `<p class="hint"><button type="submit" name="action" value="decoupled-approve" class="btn-link" formnovalidate>${escapeHtml(text(ui, 'approveOnPhone'))}</button></p>`,
        `<button type="submit" name="action" value="decoupled-continue" class="btn-primary">${escapeHtml(text(ui, 'continue'))}</button>`,
      );
    case 'question':
      return page(
        'questionTitle',
        text(ui, 'questionLead', { bank }),
        'question',
        `<div class="field"><label for="wv-answer">${escapeHtml(text(ui, 'questionLabel'))}</label><input id="wv-answer" name="answer" type="text" required></div>`,
        `<button type="submit" name="action" value="answer" class="btn-primary">${escapeHtml(text(ui, 'continue'))}</button>`,
      );
  }
}

// ---------------------------------------------------------------- outcomes

/** The redirect URI as a header-safe string (normalised only when it holds unusual characters). */
function headerSafe(uri: string): string {
  return /^[\x21-\x7e]*$/.test(uri) ? uri : new URL(uri).href;
}

function returnTo(ctx: EmulatorContext, res: Response, f: FlowContext, values: Record<string, string | undefined>): void {
  if (f.redirectUri === undefined) throw new WebviewError(400, 'noRedirect');
  // The flow is over: its session (and any sign-in in progress) with it. Manage keeps its own
  // until it expires: the page stays usable until the user leaves it.
  if (f.session !== undefined && f.flow !== 'manage') ctx.store.closeWebviewSession(f.session.id);
  const query = new URLSearchParams();
  for (const [k, v] of Object.entries(values)) if (v !== undefined) query.append(k, v);
  if (f.state !== undefined) query.append('state', f.state);
  securityHeaders(res);
  res.status(303).setHeader('Location', appendQuery(headerSafe(f.redirectUri), query));
  res.end();
}

function sendPage(res: Response, f: FlowContext, status: number, html: string): void {
  securityHeaders(res);
  res.status(status).type('html').send(html);
}

/** The session of this webview, opened now if the form carried none. */
function sessionOf(ctx: EmulatorContext, f: FlowContext): { id: string; record: WebviewSession } {
  if (f.session === undefined) {
    const id = ctx.store.openWebviewSession(f.code, f.userId);
    const record = ctx.store.webviewSession(id, f.code);
    if (record === undefined) throw new WebviewError(400, 'stepExpired');
    f.session = { id, record };
  }
  return f.session;
}

/** The sign-in in progress this step belongs to, at `step`; an old or forged form gets the "expired" page. */
function progressAt(f: FlowContext, step: LoginStep): LoginProgress {
  const progress = f.session?.record.progress;
  if (progress === undefined || progress.steps[0] !== step) throw new WebviewError(400, 'stepExpired');
  return progress;
}

/** Signed in: the next step's page, or, with none left, the connection made or repaired. */
function advance(ctx: EmulatorContext, res: Response, f: FlowContext, progress: LoginProgress): void {
  const step = progress.steps[0];
  if (step !== undefined) {
    sessionOf(ctx, f).record.progress = progress;
    sendPage(res, f, 200, renderStep(ctx, f, progress, step));
    return;
  }
  const inDays = (days: number): Date => new Date(ctx.now().getTime() + days * 86_400_000);
  const expire = progress.expiring ? inDays(EXPIRING_CONSENT_DAYS) : null;
  if (f.flow === 'reconnect') {
    const c = f.connection;
    if (c === undefined || ctx.store.connection(c.id) === undefined) throw new WebviewError(400, 'unknownConnection');
    // Signing in again renews a consent that had an end (a connection without one keeps none).
    const renewed = expire ?? (c.expire === null ? null : inDays(RENEWED_CONSENT_DAYS));
    ctx.store.patchConnection(c.id, { state: null, error_message: null, last_update: ctx.now(), expire: renewed });
    returnTo(ctx, res, f, { connection_id: String(c.id) });
    return;
  }
  createConnection(ctx, res, f, progress.connectorId, { state: null, errorMessage: null, expire });
}

function createConnection(
  ctx: EmulatorContext,
  res: Response,
  f: FlowContext,
  connectorId: number,
  init: { state: string | null; errorMessage: string | null; expire: Date | null },
): void {
  if (f.userId !== undefined) {
    const connection = ctx.store.addConnection(f.userId, connectorId, init);
    returnTo(ctx, res, f, { connection_id: String(connection.id) });
    return;
  }
  const redirectUri = f.redirectUri;
  if (redirectUri === undefined) throw new WebviewError(400, 'missingParameter', { name: 'redirect_uri' });
  const user = ctx.store.createUser();
  const connection = ctx.store.addConnection(user.id, connectorId, init);
  const code = ctx.store.issueAuthorizationCode(user.id, f.client.clientId, redirectUri);
  returnTo(ctx, res, f, { code, connection_id: String(connection.id) });
}

/**
 * Credentials typed (connect, or a reconnect with reset_credentials): the test logins decide
 * what the bank answers. `rerender` shows the credentials page again with an error.
 */
function signIn(
  ctx: EmulatorContext,
  req: Request,
  res: Response,
  f: FlowContext,
  connectorId: number,
  rerender: (status: number, page: CredentialsPageOptions) => void,
): void {
  const login = formField(req.body, 'login') ?? '';
  const password = formField(req.body, 'password') ?? '';
  if (login.trim() === '' || password === '') {
    rerender(400, { error: text(f.ui, 'credentialsError'), login });
    return;
  }
  const magic = magicLogins(login);
  const before = f.session?.record.progress;
  const refusedOnce = before?.refusedOnce === true;
  if (magic.has('wrongpass') && !refusedOnce) {
    // The bank refuses the password once; the page remembers it, so the next try goes through.
    const session = sessionOf(ctx, f);
    session.record.progress = { connectorId, login, steps: [], refusedOnce: true, approved: false, expiring: false };
    rerender(200, { error: text(f.ui, 'wrongPassword'), login, step: 'wrongpass' });
    return;
  }
  advance(ctx, res, f, { connectorId, login, steps: stepsOf(magic), refusedOnce, approved: false, expiring: magic.has('expiring') });
}

function submit(ctx: EmulatorContext, req: Request, res: Response, f: FlowContext): void {
  const action = formField(req.body, 'action');
  // The form is submitted: a single-use code is used up now, whatever the button. The pages
  // after this one keep working through a webview session carried by their forms.
  if (f.code !== undefined && f.session === undefined) ctx.store.consumeTemporaryCode(f.code);

  if (action === 'cancel' && f.flow !== 'manage') {
    returnTo(ctx, res, f, { error: 'access_denied', error_description: 'User cancelled' });
    return;
  }

  // The steps after the credentials, the same in connect and reconnect.
  if (action === 'otp' && f.flow !== 'manage') {
    const progress = progressAt(f, 'otp');
    if ((formField(req.body, 'otp') ?? '').trim() !== OTP_CODE) {
      sendPage(res, f, 200, renderStep(ctx, f, progress, 'otp', { error: text(f.ui, 'otpError') }));
      return;
    }
    progress.steps.shift();
    advance(ctx, res, f, progress);
    return;
  }
  if (action === 'decoupled-approve' && f.flow !== 'manage') {
    // The emulator's stand-in for the user's phone: the banking app approves the request.
    const progress = progressAt(f, 'decoupled');
    progress.approved = true;
    sendPage(res, f, 200, renderStep(ctx, f, progress, 'decoupled', { notice: text(f.ui, 'decoupledApproved') }));
    return;
  }
  if (action === 'decoupled-continue' && f.flow !== 'manage') {
    const progress = progressAt(f, 'decoupled');
    if (!progress.approved) {
      sendPage(res, f, 200, renderStep(ctx, f, progress, 'decoupled', { error: text(f.ui, 'decoupledNotYet') }));
      return;
    }
    progress.steps.shift();
    advance(ctx, res, f, progress);
    return;
  }
  if (action === 'answer' && f.flow !== 'manage') {
    const progress = progressAt(f, 'question');
    if ((formField(req.body, 'answer') ?? '').trim() === '') {
      sendPage(res, f, 400, renderStep(ctx, f, progress, 'question', { error: text(f.ui, 'questionError') }));
      return;
    }
    progress.steps.shift();
    advance(ctx, res, f, progress);
    return;
  }

  if (f.flow === 'connect') {
    if (action === 'decline') {
      returnTo(ctx, res, f, { error: 'tos_declined', error_description: 'User declined the terms of service' });
      return;
    }
    if (action !== 'connect') throw new WebviewError(400, 'unknownAction');
    const connectorId = parseId(formField(req.body, 'connector_id'));
    const connector = f.connectors.find((c) => c.id === connectorId);
    if (connector === undefined) {
      sendPage(res, f, 400, renderConnect(ctx, f, { error: text(f.ui, 'chooseBankError') }));
      return;
    }
    const login = formField(req.body, 'login') ?? '';
    if (connector.id === TEST_CONNECTOR_ID && Object.hasOwn(SIMULATED_STATES, login) && (formField(req.body, 'password') ?? '') !== '') {
      // The test connector makes the connection in the state typed as the login.
      createConnection(ctx, res, f, connector.id, { state: login, errorMessage: SIMULATED_STATES[login] ?? null, expire: null });
      return;
    }
    signIn(ctx, req, res, f, connector.id, (status, page) => sendPage(res, f, status, renderConnect(ctx, f, { ...page, selected: connector.id })));
    return;
  }

  if (f.flow === 'reconnect') {
    if (action !== 'reconnect') throw new WebviewError(400, 'unknownAction');
    const c = f.connection;
    if (c === undefined || ctx.store.connection(c.id) === undefined) throw new WebviewError(400, 'unknownConnection');
    if (resetsCredentials(f)) {
      // DOCS webview: reset_credentials=true forces typing the credentials again.
      signIn(ctx, req, res, f, c.connectorId, (status, page) => sendPage(res, f, status, renderReconnect(ctx, f, page)));
      return;
    }
    advance(ctx, res, f, { connectorId: c.connectorId, login: '', steps: [], refusedOnce: false, approved: false, expiring: false });
    return;
  }

  // manage
  sessionOf(ctx, f);
  if (action === 'done') {
    returnTo(ctx, res, f, {});
    return;
  }
  const removeMatch = action === undefined ? null : /^remove:([0-9]{1,15})$/.exec(action);
  if (removeMatch === null) throw new WebviewError(400, 'unknownAction');
  const id = Number(removeMatch[1]);
  const c = ctx.store.connection(id);
  if (c === undefined || c.userId !== f.userId) throw new WebviewError(400, 'unknownConnectionOfUser');
  const name = ctx.store.connectorOf(c).name;
  ctx.store.deleteConnection(id);
  sendPage(res, f, 200, renderManage(ctx, f, text(f.ui, 'removed', { bank: name })));
}

// ---------------------------------------------------------------- router

function langOf(req: Request): string | undefined {
  const lang = req.params['lang'];
  return typeof lang === 'string' && (WEBVIEW_LANGS as readonly string[]).includes(lang) ? lang : undefined;
}

function webviewErrorPage(ctx: EmulatorContext, res: Response, lang: string, err: WebviewError): void {
  errorPage(ctx, res, lang, err.status, text(pageLang(lang), err.key, err.values));
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
      errorPage(ctx, res, 'en', 503, text('en', 'barePath', { flow }));
    });

    router.get(`/:lang/${flow}`, (req, res) => {
      const lang = langOf(req);
      if (lang === undefined) {
        errorPage(ctx, res, 'en', 404, text('en', 'unknownLanguage'));
        return;
      }
      try {
        const f = validate(ctx, flow, lang, readParams(req.query), undefined);
        const html = flow === 'connect' ? renderConnect(ctx, f) : flow === 'reconnect' ? renderReconnect(ctx, f) : renderManage(ctx, f);
        sendPage(res, f, 200, html);
      } catch (err: unknown) {
        if (err instanceof WebviewError) webviewErrorPage(ctx, res, lang, err);
        else throw err;
      }
    });

    router.post(`/:lang/${flow}`, form, (req, res) => {
      const lang = langOf(req);
      if (lang === undefined) {
        errorPage(ctx, res, 'en', 404, text('en', 'unknownLanguage'));
        return;
      }
      try {
        const session = formField(req.body, 'webview_session');
        const f = validate(ctx, flow, lang, readParams(req.body), session);
        submit(ctx, req, res, f);
      } catch (err: unknown) {
        if (err instanceof WebviewError) webviewErrorPage(ctx, res, lang, err);
        else throw err;
      }
    });
  }

  return router;
}

export { errorPage as renderWebviewErrorPage };
