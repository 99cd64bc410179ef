/**
 * The Powens emulator: an in-memory fake of Powens' hosted webview and REST API, with knobs
 * for tests. `createEmulator()` builds it without side effects; `server.ts` listens.
 */
import express, { type NextFunction, type Request, type Response } from 'express';
import { createApiRouter } from './api.js';
import { DEMO_BANK_ID } from './connectors.js';
import { createControlRouter } from './control.js';
import { KnobRegistry } from './knobs.js';
import { type EmulatorSnapshot, EmulatorStore, type EmulatorUserView, type PowensConnection } from './store.js';
import type { EmulatorClient, EmulatorContext, EmulatorKnobs } from './types.js';
import { DEFAULT_TIME_ZONE, escapeHtml, knownTimeZone } from './util.js';
import { createWebviewRouter, renderWebviewErrorPage } from './webview.js';
import { buildWebhookPayload, sendWebhook, webhookIds } from './webhooks.js';

export const DEFAULT_CLIENT: Readonly<EmulatorClient> = Object.freeze({
  clientId: 'demo-client',
  clientSecret: 'demo-secret-not-for-production',
  redirectUris: ['http://localhost:3000/callback'],
});

export const DEFAULT_DOMAIN = 'demo-sandbox.biapi.pro';

export interface EmulatorOptions {
  clients?: EmulatorClient[];
  /** The API host the webview's `domain` parameter must name; default `demo-sandbox.biapi.pro`. */
  domain?: string;
  /** Base URL the emulator is reached at, used to build links; may be set later via setPublicUrl. */
  publicUrl?: string;
  /**
   * Serve the control API (`/__emulator`: knobs, users, state, webhooks) on `controlApp` only,
   * not beside the webview and the API, so that publishing the webview's port (a container)
   * does not publish the knobs too. Default false: one app serves everything.
   */
  separateControl?: boolean;
  now?: () => Date;
  /**
   * The zone whose wall-clock time the API's zone-less dates hold (`YYYY-MM-DD HH:MM:SS`);
   * default Europe/Paris, as the service reads them by default (POWENS_TIMEZONE).
   */
  timeZone?: string;
}

export interface EmulatorState {
  /** A JSON-able deep copy: users, their connections, their live token and code counts. */
  snapshot(): EmulatorSnapshot;
  users(): EmulatorUserView[];
  findUserByToken(token: string): EmulatorUserView | undefined;
  /** A connection as the API would answer it (with its connector), or undefined. */
  connection(connectionId: number): PowensConnection | undefined;
}

export interface Emulator {
  app: express.Express;
  /** The control API alone, under `/__emulator` (also mounted on `app` unless separateControl). */
  controlApp: express.Express;
  knobs: EmulatorKnobs;
  state: EmulatorState;
  setPublicUrl(url: string): void;
}

function normalisePublicUrl(url: string): { url: string; basePath: string } {
  const parsed = new URL(url);
  const trimmed = url.replace(/\/+$/, '');
  return { url: trimmed, basePath: parsed.pathname.replace(/\/+$/, '') };
}

function checkClients(clients: EmulatorClient[]): EmulatorClient[] {
  if (clients.length === 0) throw new TypeError('At least one emulator client is needed');
  return clients.map((c) => {
    if (c.clientId === '' || c.clientSecret === '') throw new TypeError('Emulator clients need a clientId and a clientSecret');
    return { clientId: c.clientId, clientSecret: c.clientSecret, redirectUris: [...c.redirectUris] };
  });
}

export function createEmulator(options: EmulatorOptions = {}): Emulator {
  const now = options.now ?? (() => new Date());
  const timeZone = options.timeZone ?? DEFAULT_TIME_ZONE;
  if (!knownTimeZone(timeZone)) throw new TypeError(`Unknown time zone ${JSON.stringify(timeZone)}`);
  const store = new EmulatorStore(now, timeZone);
  const registry = new KnobRegistry();
  let publicUrl: { url: string; basePath: string } | undefined = options.publicUrl === undefined ? undefined : normalisePublicUrl(options.publicUrl);

  const ctx: EmulatorContext = {
    store,
    registry,
    clients: checkClients(options.clients ?? [{ ...DEFAULT_CLIENT, redirectUris: [...DEFAULT_CLIENT.redirectUris] }]),
    domain: options.domain ?? DEFAULT_DOMAIN,
    now,
    basePath: () => publicUrl?.basePath ?? '',
    publicUrl: () => publicUrl?.url,
  };

  const nextWebhookId = webhookIds();
  const knobs: EmulatorKnobs = {
    fail: (endpoint, opts) => registry.fail(endpoint, opts),
    hang: (endpoint, opts) => registry.hang(endpoint, opts),
    delay: (endpoint, ms, opts) => registry.delay(endpoint, ms, opts),
    malformed: (endpoint, opts) => registry.malformed(endpoint, opts),
    setConnectionState(connectionId, state, errorMessage) {
      if (!store.patchConnection(connectionId, { state, error_message: state === null ? null : (errorMessage ?? null) })) {
        throw new Error(`Unknown connection ${connectionId}`);
      }
    },
    setConnectionField(connectionId, fields) {
      if (!store.patchConnection(connectionId, fields)) throw new Error(`Unknown connection ${connectionId}`);
    },
    setConsentExpiry(connectionId, days) {
      if (days !== null && !Number.isFinite(days)) throw new TypeError(`days must be a number or null, got ${days}`);
      const expire = days === null ? null : new Date(now().getTime() + days * 86_400_000);
      if (!store.patchConnection(connectionId, { expire })) throw new Error(`Unknown connection ${connectionId}`);
    },
    addUser(opts = {}) {
      const user = store.createUser();
      const token = store.createToken(user.id);
      const specs = opts.connections ?? [{}];
      const connectionIds = specs.map(
        (spec) =>
          store.addConnection(user.id, spec.connectorId ?? DEMO_BANK_ID, {
            state: spec.state ?? null,
            errorMessage: spec.errorMessage ?? null,
            expire: spec.expire ?? null,
          }).id,
      );
      return { userId: user.id, token, connectionIds };
    },
    reset: () => registry.clear(),
    resetAll: () => {
      registry.clear();
      store.clear();
    },
    calls: (endpoint) => registry.calls(endpoint),
    traceparents: (endpoint) => registry.traceparents(endpoint),
    sendWebhook: (url, payload, opts) => sendWebhook(url, payload, opts, nextWebhookId),
    webhookPayload: (event, subject) => buildWebhookPayload(store, now(), event, subject),
  };

  const state: EmulatorState = {
    snapshot: () => store.snapshot(),
    users: () => store.userViews(),
    findUserByToken(token) {
      const id = store.userIdByToken(token);
      return id === undefined ? undefined : store.userView(id);
    },
    connection(connectionId) {
      const c = store.connection(connectionId);
      return c === undefined ? undefined : store.toPowens(c, true);
    },
  };

  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);

  // Liveness for the container's HEALTHCHECK (Dockerfile, target `emulator`): the process
  // answers HTTP. Not a Powens endpoint, so it counts no API call and no knob applies.
  app.get('/healthz', (_req, res) => {
    res.setHeader('Cache-Control', 'no-store');
    res.json({ status: 'ok' });
  });
  app.use('/2.0', createApiRouter(ctx));
  const controlApp = express();
  controlApp.disable('x-powered-by');
  controlApp.set('etag', false);
  const control = createControlRouter(ctx, knobs);
  controlApp.use('/__emulator', control);
  if (options.separateControl !== true) app.use('/__emulator', control);
  app.get('/', (_req, res) => {
    const base = ctx.publicUrl() ?? '';
    res.setHeader('Cache-Control', 'no-store');
    res.setHeader('Content-Security-Policy', "default-src 'none'; style-src 'self'");
    res.type('html').send(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Powens emulator</title>
<link rel="stylesheet" href="${escapeHtml(ctx.basePath())}/static/webview.css"></head>
<body><main class="card">
<header class="brand"><span class="logo">powens</span><span class="badge">Powens emulator</span></header>
<h1>Powens emulator</h1>
<p class="lead">An in-memory stand-in for Powens, for development and tests.</p>
<ul>
<li>API: <code>${escapeHtml(base)}/2.0</code></li>
<li>Webview: <code>${escapeHtml(base)}/{lang}/connect|reconnect|manage</code></li>
<li>Domain: <code>${escapeHtml(ctx.domain)}</code></li>
<li>Dates: <code>YYYY-MM-DD HH:MM:SS</code> in <code>${escapeHtml(timeZone)}</code></li>
</ul>
</main></body></html>
`);
  });
  app.use(createWebviewRouter(ctx));

  app.use((_req: Request, res: Response) => {
    renderWebviewErrorPage(ctx, res, 'en', 404, 'Page not found.');
  });
  app.use((err: unknown, _req: Request, res: Response, next: NextFunction) => {
    if (res.headersSent) {
      next(err);
      return;
    }
    const status =
      typeof err === 'object' && err !== null && 'status' in err && typeof err.status === 'number' && err.status >= 400 && err.status < 500 ? err.status : 500;
    renderWebviewErrorPage(ctx, res, 'en', status, status === 500 ? 'Internal error.' : 'Bad request.');
  });

  return {
    app,
    controlApp,
    knobs,
    state,
    setPublicUrl(url: string) {
      publicUrl = normalisePublicUrl(url);
    },
  };
}
