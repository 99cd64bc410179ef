/**
 * One variant of one hand-written component, alone on a bare Express 5 app, for bench/components.ts.
 * Arguments: the variant, the port. Each pair differs only in the component measured: ours (the
 * hand-written one, from src/ while the service runs it) or the library call it replaced, doing
 * the same work.
 *
 * The random and redirect pairs run behind the service's own first middleware, the request
 * context, as every route of the service does: its AsyncLocalStorage turns Node 20's async hooks
 * on, and from then on every async resource pays for them, a synchronous randomBytes (a crypto
 * job) and each socket write included. Measured without it (until 2026-11-30), the pool and the
 * bare 302 earned 3.6 and 4.3 % of /connect; behind it, medians of 4.5 and 4 % (docs/PERFORMANCE.md).
 *
 * The pool and the bare 302 were given back to the library on 2026-11-30: their "ours" variants
 * live here, as the service ran them, so that every run of the bench judges them again. So was
 * the cached list's splicing (its text sent unparsed, messages filled in on the text), against
 * JSON.parse and res.json as the service answers now; it runs behind the request context too.
 */
import { randomBytes, randomFillSync } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import express, { type RequestHandler } from 'express';
import pino from 'pino';
import { requestContext, requestId } from '../src/http/request-context.js';
import { Metrics } from '../src/metrics.js';
import { connectionMessage, localizeViews, type ConnectionStatus, type ConnectionView } from '../src/powens/status.js';
import type { Lang } from '../src/i18n/index.js';

export const VARIANTS = [
  'logger-ours',
  'logger-pino-http',
  'random-pool',
  'random-bytes',
  'redirect-bare',
  'redirect-express',
  'list-spliced',
  'list-parsed',
] as const;
export type Variant = (typeof VARIANTS)[number];

const POOL_BYTES = 4096;
const pool = Buffer.alloc(POOL_BYTES);
let used = POOL_BYTES;

/** The random pool as the service ran it: slices of a 4 KiB randomFillSync buffer, wiped as taken. */
function pooledToken(bytes: number): string {
  if (used + bytes > POOL_BYTES) {
    randomFillSync(pool);
    used = 0;
  }
  const token = pool.toString('base64url', used, used + bytes);
  pool.fill(0, used, used + bytes);
  used += bytes;
  return token;
}

/** A webview URL of the length /connect sends (the query carries state, redirect_uri, client_id...). */
const LOCATION = `https://webview.powens.com/en/connect?domain=demo-sandbox.biapi.pro&client_id=12345678&redirect_uri=${encodeURIComponent(
  'https://bank.example.com/callback',
)}&state=${'s'.repeat(43)}&code=${'c'.repeat(64)}`;

/**
 * The cached list's messages filled in on its JSON text, without parsing it, as the service did
 * until 2026-11-30 (given back to JSON.parse and res.json: it earned under 5 % of a cached list).
 * toConnectionView writes `state`, `status` and `message` side by side, and inside a JSON string
 * every `"` is escaped, so the pattern only meets those fields of a connection.
 */
function localizeMessages(json: string, lang: Lang): string {
  return json.replace(CALLS_FOR_MESSAGE, (whole, stateJson: string, status: ConnectionStatus) => {
    const key = `${lang} ${status} ${stateJson}`;
    let replacement = filled.get(key);
    if (replacement === undefined) {
      const message = connectionMessage(JSON.parse(stateJson) as string | null, status, lang);
      replacement = message === null ? whole : `"state":${stateJson},"status":"${status}","message":${JSON.stringify(message)}`;
      // Bounded: the states are Powens' few names, but an unknown one must not grow this forever.
      if (filled.size < 500) filled.set(key, replacement);
    }
    return replacement;
  });
}

/** The replacement text by language, status and state, worked out once (a hit is a Map lookup). */
const filled = new Map<string, string>();

const CALLS_FOR_MESSAGE = /"state":("(?:[^"\\]|\\.)*"|null),"status":"(action_needed|temporary_error|unknown)","message":null/g;

/** A user's cached list as the cache holds it (JSON text of the views): three banks, one needing the user. */
const CACHED_VIEWS = JSON.stringify(
  [
    { id: 41, name: 'Banque Populaire', state: null, status: 'ok' },
    { id: 42, name: 'Crédit Agricole', state: 'SCARequired', status: 'action_needed' },
    { id: 43, name: 'Boursorama', state: null, status: 'ok' },
  ].map(({ id, name, state, status }): ConnectionView => ({
    id,
    connector: { id: id * 10, name, uuid: `8b3f8d4e-5c6a-4e2b-9f1a-0000000000${id}` },
    state,
    status: status as ConnectionView['status'],
    message: null,
    lastUpdate: '2026-11-30T08:12:44Z',
    createdAt: '2026-09-01T10:00:00Z',
    expiresAt: '2027-02-27T10:00:00Z',
    expiresSoon: false,
    active: true,
    reconnectUrl: status === 'ok' ? null : `/reconnect/${id}`,
  })),
);

/**
 * pino-http, loaded by name: its type declarations augment Node's IncomingMessage with `id` and
 * `log` types of its own, which clash with the service's (src/http/request-context.ts) in one
 * compilation. Only the factory is needed here.
 */
interface PinoHttpModule {
  pinoHttp: (options: { logger: pino.Logger; genReqId: (req: IncomingMessage, res: ServerResponse) => string }) => RequestHandler;
}
const PINO_HTTP = 'pino-http';
const { pinoHttp } = (await import(PINO_HTTP)) as PinoHttpModule;

function build(variant: Variant): express.Express {
  const app = express();
  // Production logs a line per request at info: written to /dev/null, so the cost is the
  // logger's own (serializing), not the terminal's.
  const logger = pino({ level: 'info' }, pino.destination({ dest: '/dev/null', sync: false }));
  const metrics = new Metrics({ defaultMetrics: false });
  const context = requestContext({ logger, metrics, lifecycle: { shuttingDown: false } });
  if (variant !== 'logger-pino-http') app.use(context);
  if (variant === 'logger-pino-http') {
    // What the service ran before: pino-http with the same request id, plus the duration
    // histogram observed on close (the request context does both in one listener).
    const http = pinoHttp({ logger, genReqId: (req, res) => requestId(req, res) });
    const timing: RequestHandler = (req, res, next) => {
      const started = performance.now();
      res.on('close', () => {
        const path: unknown = (req.route as { path?: unknown } | undefined)?.path;
        metrics.httpDuration.observe(
          { method: req.method, route: typeof path === 'string' ? path : 'unmatched', status: String(res.statusCode) },
          (performance.now() - started) / 1000,
        );
      });
      next();
    };
    app.use(http, timing);
  }

  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  // What /connect draws at random: the flow's state (32 bytes) and the session id (24).
  app.get('/random', (_req, res) => {
    const values =
      variant === 'random-pool' ? [pooledToken(32), pooledToken(24)] : [randomBytes(32).toString('base64url'), randomBytes(24).toString('base64url')];
    res.setHeader('X-Length', String(values.join('').length));
    res.status(204).end();
  });
  // GET /me/connections on a cache hit: the splice, as the service did until 2026-11-30
  // (localizeMessages above), against what it does now: the cached text parsed, the messages
  // filled in on copies of the views (localizeViews), the answer serialized by res.json.
  app.get('/list', (_req, res) => {
    res.setHeader('Cache-Control', 'no-store');
    res.setHeader('Content-Language', 'en');
    if (variant === 'list-spliced') {
      res.setHeader('Content-Type', 'application/json; charset=utf-8');
      res.send(localizeMessages(`{"linked":true,"connections":${CACHED_VIEWS}}`, 'en'));
    } else {
      // As the service answers: the cache's text parsed, the messages filled in on copies, res.json.
      const views = JSON.parse(CACHED_VIEWS) as ConnectionView[];
      res.json({ linked: true, connections: localizeViews(views, 'en') });
    }
  });
  app.get('/redirect', (_req, res) => {
    res.setHeader('Cache-Control', 'no-store');
    if (variant === 'redirect-bare') {
      res.statusCode = 302;
      res.setHeader('Location', LOCATION);
      res.end();
    } else {
      res.redirect(302, LOCATION);
    }
  });
  return app;
}

const variant = process.argv[2] as Variant;
if (!VARIANTS.includes(variant)) throw new Error(`unknown variant ${String(process.argv[2])}`);
const server = build(variant).listen(Number(process.argv[3] ?? 0), '127.0.0.1');
process.on('SIGTERM', () => server.close(() => process.exit(0)));
