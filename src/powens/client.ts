import http from 'node:http';
import https from 'node:https';
import got, { HTTPError, ParseError, RequestError, type Got, type Method } from 'got';
import type { z } from 'zod';
import type { Config, PowensPool } from '../config.js';
import { AppError } from '../errors.js';
import { logContext, type Logger } from '../logging.js';
import { failSpan, SpanKind, startSpan, traceHeaders, type Span } from '../tracing.js';
import { Bulkhead, BulkheadRejected } from './bulkhead.js';
import {
  connection as connectionSchema,
  connectionsAnswer,
  connectorsAnswer,
  initAnswer,
  listedConnector,
  temporaryCodeAnswer,
  tokenAnswer,
  userAnswer,
  type PowensConnection,
  type TemporaryCodeType,
} from './types.js';

/** Names for metrics and logs; never a URL (URLs may carry ids or codes). */
export type PowensEndpoint =
  | 'token.access'
  | 'auth.init'
  | 'token.code'
  | 'token.delete'
  | 'users.me'
  | 'users.delete'
  | 'connections.list'
  | 'connections.get'
  | 'connections.delete'
  | 'connectors.list';

/**
 * The bulkhead each call goes through: a slow or hanging kind of call uses up its own slots and
 * sockets only. Sorted by what a person is waiting for:
 * - exchange: a first connection's callback (the code exchange, then `/users/me` for the new
 *   user's id), and `/auth/init`;
 * - codes: opening the webview for an existing user (a temporary code, and the connection a
 *   reconnect names);
 * - lists: the lists the frontend polls (a user's connections, the connectors);
 * - deletes: unlinks and every clean-up in the background.
 */
export const POOL_OF: Record<PowensEndpoint, PowensPool> = {
  'token.access': 'exchange',
  'auth.init': 'exchange',
  'users.me': 'exchange',
  'token.code': 'codes',
  'connections.get': 'codes',
  'connections.list': 'lists',
  'connectors.list': 'lists',
  'token.delete': 'deletes',
  'users.delete': 'deletes',
  'connections.delete': 'deletes',
};

export const POWENS_POOLS: readonly PowensPool[] = ['exchange', 'codes', 'lists', 'deletes'];

/** Told when a call takes (+1) or frees (-1) a slot of its pool, and when it gets none. */
export interface PoolObserver {
  slot(pool: PowensPool, delta: 1 | -1): void;
  rejected(pool: PowensPool): void;
}

/** A connector of the domain, as the bank picker needs it. */
export interface Connector {
  id: number;
  uuid: string;
  name: string;
  capabilities: string[];
}

export interface PowensCallObserver {
  /** `outcome` is 'ok' or the catalogue code of the failure; once per call, retries included. */
  (endpoint: PowensEndpoint, durationSeconds: number, outcome: string): void;
  /** An attempt failed and is tried again: once per retry. */
  retried?: (endpoint: PowensEndpoint) => void;
}

/** got's `context` of a call: what its hooks need to name it, and how many attempts it made. */
interface CallContext {
  endpoint: PowensEndpoint;
  /** Shared by reference: got copies `context` shallowly for each attempt. */
  attempts: { n: number };
}

function callContext(value: unknown): CallContext | undefined {
  const c = value as Partial<CallContext> | undefined;
  return typeof c?.endpoint === 'string' && typeof c.attempts === 'object' ? (c as CallContext) : undefined;
}

/** The error shape of Powens answers, kept for logs (the description is technical, not secret). */
interface PowensErrorBody {
  code?: unknown;
  description?: unknown;
  request_id?: unknown;
}

/**
 * A typed client for the part of the Powens API the service uses. Every call has a deadline
 * (retries included), keep-alive agents, and retries only for GET, with a short capped backoff.
 * Errors leave this module only as catalogue errors; the original got error stays as `cause`
 * (its message names no secret: got never puts bodies or headers in messages).
 */
/**
 * Calls that may wait per slot of a pool. Measured: with a queue as long as the pool was wide, a
 * bench of 50 concurrent callbacks (16 exchange slots) had 143 of 4,000 refused at once.
 */
export const QUEUE_PER_SLOT = 16;

export class PowensClient {
  private readonly http: Got;
  private readonly pools: Record<PowensPool, { bulkhead: Bulkhead; agents: { http: http.Agent; https: https.Agent } }>;
  /** Powens' host, for spans (`server.address`). */
  private readonly host: string;

  constructor(
    private readonly cfg: Config['powens'],
    private readonly observe: PowensCallObserver = () => undefined,
    private readonly logger?: Logger,
    private readonly poolObserver?: PoolObserver,
  ) {
    this.host = new URL(cfg.apiUrl).hostname;
    // Each pool its own keep-alive agents (a callback costs one TCP/TLS handshake less per Powens
    // call), with as many sockets as the pool has slots: the bulkhead, not the agent, queues.
    // The queue holds QUEUE_PER_SLOT calls per slot: a burst of healthy calls (50 callbacks at
    // once on 16 slots) waits a few milliseconds for a slot rather than failing, while the wait
    // still counts against the call's own deadline. Past that, the pool is surely stuck behind
    // calls that hang, and a call is refused at once (the queue also bounds what they hold).
    const pool = (size: number): { bulkhead: Bulkhead; agents: { http: http.Agent; https: https.Agent } } => {
      const options = { keepAlive: true, maxSockets: size, maxFreeSockets: Math.min(size, 16), timeout: 60_000 };
      return { bulkhead: new Bulkhead(size, size * QUEUE_PER_SLOT), agents: { http: new http.Agent(options), https: new https.Agent(options) } };
    };
    this.pools = {
      exchange: pool(cfg.pools.exchange),
      codes: pool(cfg.pools.codes),
      lists: pool(cfg.pools.lists),
      deletes: pool(cfg.pools.deletes),
    };
    this.http = got.extend({
      prefixUrl: `${cfg.apiUrl}/`,
      // got has no timeout by default; this one applies to each attempt (the signal in call()
      // bounds the whole call).
      timeout: { request: cfg.timeoutMs },
      retry: {
        limit: cfg.retries,
        // Only idempotent reads are retried: a repeated token exchange or delete could act twice.
        methods: ['GET'],
        statusCodes: [408, 429, 500, 502, 503, 504],
        maxRetryAfter: cfg.timeoutMs,
        calculateDelay: ({ attemptCount, computedValue }) =>
          computedValue === 0 ? 0 : Math.min(100 * 2 ** (attemptCount - 1), 1000) + Math.floor(Math.random() * 50),
      },
      headers: { 'user-agent': 'powens-connect-bff', accept: 'application/json' },
      responseType: 'json',
      throwHttpErrors: true,
      followRedirect: false,
      hooks: {
        // Every attempt that got an answer, failed or not (got runs these before it throws for
        // a non-2xx): one debug line each, with Powens' request id when the body has one.
        afterResponse: [
          (response) => {
            const call = callContext(response.request.options.context);
            if (call !== undefined) {
              call.attempts.n = response.retryCount + 1;
              this.logger?.debug(
                {
                  powens: {
                    endpoint: call.endpoint,
                    status: response.statusCode,
                    durationMs: response.timings.phases.total,
                    attempt: response.retryCount + 1,
                    powensRequestId: powensRequestIdOf(response.body),
                  },
                },
                `Powens ${call.endpoint} answered ${response.statusCode}`,
              );
            }
            return response;
          },
        ],
        // Once per retry, after a failed attempt (an answer got retries for, or no answer).
        beforeRetry: [
          (error, retryCount) => {
            const call = callContext(error.options.context);
            if (call === undefined) return;
            this.observe.retried?.(call.endpoint);
            call.attempts.n = retryCount + 1;
            // Attempts without an answer have no afterResponse line: say what became of them.
            if (error.response === undefined) {
              this.logger?.debug(
                { powens: { endpoint: call.endpoint, attempt: retryCount, reason: typeof error.code === 'string' ? error.code : error.name } },
                `Powens ${call.endpoint} did not answer; trying again`,
              );
            }
          },
        ],
      },
    });
  }

  close(): void {
    for (const { agents } of Object.values(this.pools)) {
      agents.http.destroy();
      agents.https.destroy();
    }
  }

  /** Calls running now in `pool`, and waiting for one of its slots. */
  load(pool: PowensPool): { inFlight: number; queued: number } {
    const { bulkhead } = this.pools[pool];
    return { inFlight: bulkhead.inFlight, queued: bulkhead.queued };
  }

  /** POST /auth/token/access: the callback's code for a permanent user token. */
  async exchangeCode(code: string): Promise<string> {
    const body = await this.call('token.access', 'POST', 'auth/token/access', tokenAnswer, {
      json: {
        code,
        client_id: this.cfg.clientId,
        client_secret: this.cfg.clientSecret,
        grant_type: 'authorization_code',
        redirect_uri: this.cfg.redirectUri,
      },
    });
    // Both field names exist in Powens' sources; the schema guarantees one of them.
    return body.auth_token ?? body.access_token ?? '';
  }

  /**
   * POST /auth/init with the client's id and secret: a new Powens user and its permanent token
   * (docs.powens.com, "Authentication"; the current "Add a first user and connection" guide).
   * Never retried: a repeat would create a second user.
   */
  async initUser(): Promise<{ token: string; powensUserId: number; type: string }> {
    const body = await this.call('auth.init', 'POST', 'auth/init', initAnswer, {
      json: { client_id: this.cfg.clientId, client_secret: this.cfg.clientSecret },
    });
    return { token: body.auth_token, powensUserId: body.id_user, type: body.type };
  }

  /** GET /auth/token/code: a temporary code to open the webview for an existing user. */
  async temporaryCode(token: string, type: TemporaryCodeType = 'singleAccess'): Promise<string> {
    const body = await this.call('token.code', 'GET', 'auth/token/code', temporaryCodeAnswer, {
      token,
      searchParams: { type },
      // A temporary code is not a pure read (each call mints one) but minting twice is harmless.
    });
    return body.code;
  }

  async currentUser(token: string): Promise<{ id: number }> {
    return this.call('users.me', 'GET', 'users/me', userAnswer, { token });
  }

  async listConnections(token: string): Promise<PowensConnection[]> {
    const body = await this.call('connections.list', 'GET', 'users/me/connections', connectionsAnswer, {
      token,
      searchParams: { expand: 'connector' },
    });
    return body.connections;
  }

  async getConnection(token: string, id: number): Promise<PowensConnection> {
    return this.call('connections.get', 'GET', `users/me/connections/${id}`, connectionSchema, {
      token,
      searchParams: { expand: 'connector' },
    });
  }

  /**
   * GET /connectors: the domain's connectors. Powens asks for no authentication here (DOCS
   * connectors: "This endpoint does not require authentication"), so no token is sent. Entries
   * that are hidden or lack an id, uuid or name are left out; `skipped` counts them.
   */
  async listConnectors(): Promise<{ connectors: Connector[]; skipped: number }> {
    const body = await this.call('connectors.list', 'GET', 'connectors', connectorsAnswer, {});
    const connectors: Connector[] = [];
    for (const raw of body.connectors) {
      const parsed = listedConnector.safeParse(raw);
      if (!parsed.success || parsed.data.hidden === true) continue;
      const { id, uuid, name, capabilities = [] } = parsed.data;
      connectors.push({ id, uuid, name, capabilities });
    }
    return { connectors, skipped: body.connectors.length - connectors.length };
  }

  async deleteConnection(token: string, id: number): Promise<void> {
    await this.call('connections.delete', 'DELETE', `users/me/connections/${id}`, null, { token });
  }

  /** DELETE /users/me: the Powens user and all its data. */
  async deleteUser(token: string): Promise<void> {
    await this.call('users.delete', 'DELETE', 'users/me', null, { token });
  }

  async revokeToken(token: string): Promise<void> {
    await this.call('token.delete', 'DELETE', 'auth/token', null, { token });
  }

  private async call<S extends z.ZodType>(
    endpoint: PowensEndpoint,
    method: Method,
    path: string,
    schema: S | null,
    opts: { token?: string; json?: Record<string, unknown>; searchParams?: Record<string, string> },
  ): Promise<z.infer<S>> {
    const started = process.hrtime.bigint();
    const seconds = (): number => Number(process.hrtime.bigint() - started) / 1e9;
    // One client span per call, retries included; its context goes to Powens as `traceparent`.
    const span = startSpan(`powens ${endpoint}`, { 'powens.endpoint': endpoint, 'http.request.method': method, 'server.address': this.host }, SpanKind.CLIENT);
    try {
      const result = await this.attempt(endpoint, method, path, schema, opts, span, seconds);
      this.observe(endpoint, seconds(), 'ok');
      return result;
    } catch (err: unknown) {
      if (err instanceof AppError) {
        failSpan(span, err.code);
        const requestId = err.logDetail?.powensRequestId;
        if (typeof requestId === 'string') span.setAttribute('powens.request_id', requestId);
      }
      throw err;
    } finally {
      span.end();
    }
  }

  private async attempt<S extends z.ZodType>(
    endpoint: PowensEndpoint,
    method: Method,
    path: string,
    schema: S | null,
    opts: { token?: string; json?: Record<string, unknown>; searchParams?: Record<string, string> },
    span: Span,
    seconds: () => number,
  ): Promise<z.infer<S>> {
    const attempts = { n: 1 };
    // One deadline for the whole call: the wait for a slot, every attempt and the backoff between
    // them, so a hanging Powens costs POWENS_TIMEOUT_MS once, not per attempt (got's own
    // timeout applies to each attempt).
    const deadline = AbortSignal.timeout(this.cfg.timeoutMs);
    const poolName = POOL_OF[endpoint];
    const pool = this.pools[poolName];
    // Built before a slot is taken: nothing may throw between taking it and the try that frees it.
    const headers = traceHeaders(span);
    if (opts.token !== undefined) headers.authorization = `Bearer ${opts.token}`;
    let release: () => void;
    try {
      release = await pool.bulkhead.acquire(deadline);
    } catch (err: unknown) {
      this.poolObserver?.rejected(poolName);
      const reason = err instanceof BulkheadRejected ? err.reason : 'unknown';
      const mapped = new AppError('POWENS_UNAVAILABLE', { cause: err, logDetail: { endpoint, pool: poolName, reason } });
      this.observe(endpoint, seconds(), mapped.code);
      // Refused before reaching Powens: no attempt was made.
      throw this.failed(mapped, endpoint, 0);
    }
    this.poolObserver?.slot(poolName, 1);
    let body: unknown;
    let status: number;
    try {
      const res = (await this.http(path, {
        method,
        json: opts.json,
        searchParams: opts.searchParams,
        headers,
        // DELETE answers may be empty (204) or a body (200): accept any 2xx, parse nothing.
        responseType: schema === null ? 'text' : 'json',
        agent: pool.agents,
        // got's timeout applies per attempt; this deadline bounds the whole call (the wait for a
        // slot, retries and backoff included).
        signal: deadline,
        context: { endpoint, attempts } satisfies CallContext,
      })) as { body: unknown; statusCode: number };
      body = res.body;
      status = res.statusCode;
      span.setAttributes({ 'http.response.status_code': status, 'powens.attempts': attempts.n });
    } catch (err: unknown) {
      const mapped = mapGotError(err, endpoint, attempts.n);
      span.setAttribute('powens.attempts', attempts.n);
      if (err instanceof RequestError && err.response !== undefined) span.setAttribute('http.response.status_code', err.response.statusCode);
      this.observe(endpoint, seconds(), mapped.code);
      throw this.failed(mapped, endpoint, attempts.n);
    } finally {
      release();
      this.poolObserver?.slot(poolName, -1);
    }
    // With redirects not followed, got hands a 3xx over as a success: a DELETE answered by a
    // redirect (a proxy, an http-to-https hop) did nothing, and must not be taken as done.
    if (status < 200 || status > 299) {
      this.observe(endpoint, seconds(), 'POWENS_BAD_RESPONSE');
      throw this.failed(new AppError('POWENS_BAD_RESPONSE', { logDetail: { endpoint, status, reason: 'not a 2xx answer' } }), endpoint, attempts.n);
    }
    if (schema === null) return undefined as z.infer<S>;
    const parsed = schema.safeParse(body);
    if (!parsed.success) {
      this.observe(endpoint, seconds(), 'POWENS_BAD_RESPONSE');
      throw this.failed(
        new AppError('POWENS_BAD_RESPONSE', {
          logDetail: { endpoint, problems: parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).slice(0, 5) },
        }),
        endpoint,
        attempts.n,
      );
    }
    return parsed.data;
  }

  /**
   * A failed call, reported once. While a request is being served, in that request's line
   * (http/request-context.ts: at warn at least), so a request that fails because Powens did
   * writes one line, not two; the call's own line is then at debug. Outside a request, or after
   * its answer (background work), nothing else would say it: a line of its own at warn.
   */
  private failed(err: AppError, endpoint: PowensEndpoint, attempts: number): AppError {
    const detail = err.logDetail ?? {};
    const status = typeof detail.status === 'number' ? detail.status : undefined;
    const powensRequestId = typeof detail.powensRequestId === 'string' ? detail.powensRequestId : undefined;
    // A call its pool refused says so (pool, reason): it must not read like a Powens timeout.
    const pool = typeof detail.pool === 'string' ? detail.pool : undefined;
    const reason = typeof detail.reason === 'string' ? detail.reason : undefined;
    const failure = {
      endpoint,
      errorCode: err.code,
      attempts,
      ...(status !== undefined ? { status } : {}),
      ...(powensRequestId !== undefined ? { powensRequestId } : {}),
      ...(pool !== undefined ? { pool } : {}),
      ...(reason !== undefined ? { reason } : {}),
    };
    const context = logContext();
    const inRequest = context !== undefined && context.done !== true;
    if (inRequest) context.powensFailure = failure;
    const line = `Powens ${endpoint} failed: ${err.code}`;
    if (inRequest) this.logger?.debug({ powens: failure }, line);
    else this.logger?.warn({ powens: failure }, line);
    return err;
  }
}

function powensRequestIdOf(body: unknown): string | undefined {
  return typeof body === 'object' && body !== null ? requestId((body as PowensErrorBody).request_id) : undefined;
}

function mapGotError(err: unknown, endpoint: PowensEndpoint, attempts: number): AppError {
  if (err instanceof HTTPError) {
    const status = err.response.statusCode;
    const b = (typeof err.response.body === 'object' && err.response.body !== null ? err.response.body : {}) as PowensErrorBody;
    const logDetail = {
      endpoint,
      status,
      attempts,
      powensCode: typeof b.code === 'string' ? b.code.slice(0, 64) : undefined,
      powensRequestId: requestId(b.request_id),
    };
    const cause = sanitizedCause(err);
    // The token exchange and /auth/init authenticate the client application, not a user: a 401
    // there means a wrong client id or secret (an operator problem), never a user token gone stale.
    if ((status === 401 || status === 403) && endpoint !== 'token.access' && endpoint !== 'auth.init') {
      return new AppError('POWENS_TOKEN_INVALID', { cause, logDetail });
    }
    if (status === 404 && endpoint.startsWith('connections.')) return new AppError('CONNECTION_NOT_FOUND', { cause, logDetail });
    // The Powens user the token names is gone (deleted in the console, or by an earlier unlink
    // whose answer was lost): the token is as good as revoked.
    if (status === 404 && endpoint.startsWith('users.')) return new AppError('POWENS_TOKEN_INVALID', { cause, logDetail });
    if (status >= 500 || status === 429 || status === 408) return new AppError('POWENS_UNAVAILABLE', { cause, logDetail });
    return new AppError('POWENS_REJECTED', { cause, logDetail });
  }
  if (err instanceof ParseError) {
    // Not got's message: it embeds JSON.parse's, which quotes the start of the body (a token or
    // a code when a proxy answers `auth_token=...`), and the URL.
    const cause = sanitizedCause(err);
    cause.message = 'the answer is not valid JSON';
    return new AppError('POWENS_BAD_RESPONSE', { cause, logDetail: { endpoint } });
  }
  if (err instanceof RequestError) {
    const cause = sanitizedCause(err);
    // The whole-call deadline (AbortSignal.timeout) surfaces as a DOMException code; name it
    // like got's own per-attempt timeout, which is what it is to an operator.
    if (err.name === 'TimeoutError' || err.name === 'AbortError') {
      cause.code = 'ETIMEDOUT';
      cause.message = 'no answer within POWENS_TIMEOUT_MS';
    }
    return new AppError('POWENS_UNAVAILABLE', { cause, logDetail: { endpoint, attempts, reason: cause.code } });
  }
  return new AppError('POWENS_UNAVAILABLE', { cause: err, logDetail: { endpoint, attempts } });
}

/**
 * Powens' `request_id`, for the log line an operator quotes to Powens support. The docs type it
 * "Integer or null", the SDK's ServiceError a string: both are kept, as text (capped).
 */
function requestId(value: unknown): string | undefined {
  if (typeof value === 'string' && value !== '') return value.slice(0, 64);
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  return undefined;
}

/**
 * got errors carry their request options (the client secret in a JSON body, the bearer token
 * in headers). Keep a plain copy with only the name, code and message, so no serializer can
 * ever reach those options.
 */
function sanitizedCause(err: RequestError): Error & { code?: string } {
  const copy = new Error(err.message) as Error & { code?: string };
  copy.name = err.name;
  copy.code = typeof err.code === 'string' ? err.code : undefined;
  return copy;
}
