import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { completeWebview } from '../../emulator/index.js';
import { createLogger } from '../../src/logging.js';
import { startTracing, type Tracing } from '../../src/ops/tracing.js';
import { expectPowensUsersMatchTokens, resetLinks } from '../helpers/links.js';
import { startConnect, startStack, TEST_CLIENT_SECRET, type Stack } from '../helpers/stack.js';
import { waitFor } from '../helpers/wait.js';

/**
 * Tracing end to end: the service with OTEL_EXPORTER_OTLP_TRACES_ENDPOINT pointing at an OTLP/HTTP
 * receiver on loopback (this file's, which keeps every JSON export), the emulator as Powens, a
 * real redis-server. Each request sends its own W3C traceparent, so its spans are found by trace
 * id. The SDK is registered globally once for this file (as start-up does) and unregistered after.
 */

/** The OTLP/JSON shapes this test reads (opentelemetry-proto, trace/v1 and common/v1). */
interface OtlpValue {
  stringValue?: string;
  intValue?: string | number;
  boolValue?: boolean;
  doubleValue?: number;
}
interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  attributes?: { key: string; value: OtlpValue }[];
  status?: { code?: number };
}
interface OtlpExport {
  resourceSpans?: { resource?: { attributes?: { key: string; value: OtlpValue }[] }; scopeSpans?: { spans?: OtlpSpan[] }[] }[];
}

const SERVER = 2;
const CLIENT = 3;
const STATUS_ERROR = 2;

function attr(span: OtlpSpan, key: string): string | number | boolean | undefined {
  const v = span.attributes?.find((a) => a.key === key)?.value;
  if (v === undefined) return undefined;
  if (v.intValue !== undefined) return Number(v.intValue);
  return v.stringValue ?? v.boolValue ?? v.doubleValue;
}

function hex(bytes: number): string {
  return randomBytes(bytes).toString('hex');
}

/** A caller's trace context: a new trace id and the caller's span id. */
function callerContext(): { traceId: string; parentId: string; traceparent: string } {
  const traceId = hex(16);
  const parentId = hex(8);
  return { traceId, parentId, traceparent: `00-${traceId}-${parentId}-01` };
}

describe('tracing (OTEL_* variables, OTLP over HTTP)', () => {
  let stack: Stack;
  let receiver: Server;
  let tracing: Tracing;
  const exports: OtlpExport[] = [];
  const contentTypes: string[] = [];

  const spans = (): OtlpSpan[] => exports.flatMap((e) => (e.resourceSpans ?? []).flatMap((r) => (r.scopeSpans ?? []).flatMap((s) => s.spans ?? [])));
  const inTrace = (traceId: string): OtlpSpan[] => spans().filter((s) => s.traceId === traceId);

  /** Exports what has ended, then waits for the server span of `traceId` to be received. */
  async function serverSpanOf(traceId: string): Promise<OtlpSpan> {
    await tracing.flush();
    await waitFor(() => inTrace(traceId).some((s) => s.kind === SERVER), { timeoutMs: 10_000, what: `the server span of trace ${traceId}` });
    const found = inTrace(traceId).filter((s) => s.kind === SERVER);
    expect(found).toHaveLength(1);
    return found[0] as OtlpSpan;
  }

  const childrenOf = (span: OtlpSpan): OtlpSpan[] => inTrace(span.traceId).filter((s) => s.parentSpanId === span.spanId);

  beforeAll(async () => {
    receiver = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        if (req.method === 'POST' && req.url === '/v1/traces') {
          contentTypes.push(req.headers['content-type'] ?? '');
          exports.push(JSON.parse(Buffer.concat(chunks).toString('utf8')) as OtlpExport);
          res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
        } else res.writeHead(404).end();
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    const { port } = receiver.address() as AddressInfo;
    stack = await startStack({
      env: {
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `http://127.0.0.1:${port}/v1/traces`,
        OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
        OTEL_RESOURCE_ATTRIBUTES: 'deployment.environment.name=test',
      },
    });
    const started = startTracing(stack.config.tracing, createLogger('silent'));
    if (started === undefined) throw new Error('tracing should be on with OTEL_EXPORTER_OTLP_TRACES_ENDPOINT set');
    tracing = started;
  });

  afterAll(async () => {
    await tracing?.shutdown();
    await stack?.close();
    await new Promise((resolve) => receiver?.close(resolve));
  });

  beforeEach(async () => {
    await resetLinks(stack);
  });

  /** Every attribute value and span name of `list`, as text. */
  function everything(list: OtlpSpan[]): string[] {
    return list.flatMap((s) => [
      s.name,
      ...(s.attributes ?? []).map((a) => String(a.value.stringValue ?? a.value.intValue ?? a.value.boolValue ?? a.value.doubleValue)),
    ]);
  }

  function expectNoneOf(list: OtlpSpan[], secrets: Record<string, string | undefined>): void {
    const texts = everything(list);
    for (const [what, secret] of Object.entries(secrets)) {
      expect(secret).toBeDefined();
      expect({ what, leaked: texts.filter((t) => secret !== undefined && secret !== '' && t.includes(secret)) }).toEqual({ what, leaked: [] });
    }
  }

  it('traces a whole /connect -> webview -> /callback flow: a server span per request, Powens and Redis children, the caller and Powens in the same trace', async () => {
    const userId = `trace-user-${hex(6)}`;
    const b = stack.browser(userId);
    const connectCtx = callerContext();
    const hop = await b.get('/connect', { traceparent: connectCtx.traceparent });
    expect(hop.status).toBe(302);
    const webview = new URL(hop.location ?? '');
    const back = await completeWebview(webview.href, { kind: 'connect' });
    const callbackCtx = callerContext();
    const cb = await b.get(back.href, { traceparent: callbackCtx.traceparent });
    expect(cb.status).toBe(303);

    const connect = await serverSpanOf(connectCtx.traceId);
    expect(connect.name).toBe('GET /connect');
    expect(connect.parentSpanId).toBe(connectCtx.parentId);
    expect(attr(connect, 'http.route')).toBe('/connect');
    expect(attr(connect, 'http.response.status_code')).toBe(302);

    const callback = await serverSpanOf(callbackCtx.traceId);
    // The caller's trace is honoured: same trace id, the caller's span as parent.
    expect(callback.parentSpanId).toBe(callbackCtx.parentId);
    expect(callback.name).toBe('GET /callback');
    expect(callback.status?.code).not.toBe(STATUS_ERROR);
    expect({
      method: attr(callback, 'http.request.method'),
      route: attr(callback, 'http.route'),
      status: attr(callback, 'http.response.status_code'),
      path: attr(callback, 'url.path'),
      scheme: attr(callback, 'url.scheme'),
    }).toEqual({ method: 'GET', route: '/callback', status: 303, path: '/callback', scheme: 'http' });

    const children = childrenOf(callback);
    const names = children.map((s) => s.name);
    // The code's exchange, and the Redis steps of a callback: the session, the pending flow, the token.
    expect(names).toEqual(expect.arrayContaining(['powens token.access', 'redis session_get', 'redis flow_take', 'redis token_write']));
    const exchange = children.find((s) => s.name === 'powens token.access') as OtlpSpan;
    expect(exchange.kind).toBe(CLIENT);
    expect({
      endpoint: attr(exchange, 'powens.endpoint'),
      status: attr(exchange, 'http.response.status_code'),
      attempts: attr(exchange, 'powens.attempts'),
    }).toEqual({
      endpoint: 'token.access',
      status: 200,
      attempts: 1,
    });
    // Every span of the request hangs under its server span, none elsewhere.
    expect(inTrace(callbackCtx.traceId).filter((s) => s.kind !== SERVER && s.parentSpanId !== callback.spanId)).toEqual([]);

    // Powens received the trace context, naming the client span of that very call as parent.
    const sent = stack.emulator.emulator.knobs.traceparents('token.access').map((t) => t.traceparent);
    expect(sent).toContain(`00-${callbackCtx.traceId}-${exchange.spanId}-01`);

    const resource = exports.flatMap((e) => e.resourceSpans ?? []).flatMap((r) => r.resource?.attributes ?? []);
    expect(resource).toEqual(expect.arrayContaining([{ key: 'service.name', value: { stringValue: 'powens-connect-bff' } }]));
    expect(resource).toEqual(expect.arrayContaining([{ key: 'deployment.environment.name', value: { stringValue: 'test' } }]));
    expect(contentTypes.every((t) => t.startsWith('application/json'))).toBe(true);

    const token = (await stack.built.tokens.get(userId))?.token;
    expectNoneOf([...inTrace(connectCtx.traceId), ...inTrace(callbackCtx.traceId)], {
      'user id': userId,
      code: back.searchParams.get('code') ?? undefined,
      state: webview.searchParams.get('state') ?? undefined,
      token,
      cookie: [...b.cookies.values()][0],
      'client secret': TEST_CLIENT_SECRET,
      'session secret': stack.config.sessionSecrets[0],
    });
    await expectPowensUsersMatchTokens(stack);
  });

  it('marks a callback whose exchange Powens refuses with 503 as failed: the request span and the Powens span in error, with their catalogue codes', async () => {
    const userId = `trace-fail-${hex(6)}`;
    const b = stack.browser(userId);
    const webview = new URL(await startConnect(b));
    const back = await completeWebview(webview.href, { kind: 'connect' });
    stack.emulator.emulator.knobs.fail('token.access', { status: 503, times: 1 });
    const ctx = callerContext();
    const page = await b.get(back.href, { traceparent: ctx.traceparent });
    expect(page.status).toBeGreaterThanOrEqual(500);

    const callback = await serverSpanOf(ctx.traceId);
    expect(callback.name).toBe('GET /callback');
    expect(callback.status?.code).toBe(STATUS_ERROR);
    expect(attr(callback, 'http.response.status_code')).toBe(page.status);
    expect(typeof attr(callback, 'error.type')).toBe('string');

    const exchange = childrenOf(callback).find((s) => s.name === 'powens token.access');
    expect(exchange).toBeDefined();
    expect({
      status: exchange?.status?.code,
      errorType: exchange === undefined ? undefined : attr(exchange, 'error.type'),
      httpStatus: exchange === undefined ? undefined : attr(exchange, 'http.response.status_code'),
      requestId: typeof (exchange === undefined ? undefined : attr(exchange, 'powens.request_id')),
    }).toEqual({ status: STATUS_ERROR, errorType: 'POWENS_UNAVAILABLE', httpStatus: 503, requestId: 'string' });

    expectNoneOf(inTrace(ctx.traceId), {
      'user id': userId,
      code: back.searchParams.get('code') ?? undefined,
      state: webview.searchParams.get('state') ?? undefined,
      cookie: [...b.cookies.values()][0],
      'client secret': TEST_CLIENT_SECRET,
    });
    await expectPowensUsersMatchTokens(stack);
  });

  it('labels a callback with a forged state by its catalogue code, without the query, and leaves a 4xx unmarked as a server error', async () => {
    const userId = `trace-forged-${hex(6)}`;
    const b = stack.browser(userId);
    await startConnect(b);
    const forged = `forged-${hex(12)}`;
    const ctx = callerContext();
    const page = await b.get(`/callback?state=${forged}&code=${forged}`, { traceparent: ctx.traceparent });
    expect(page.status).toBe(400);

    const callback = await serverSpanOf(ctx.traceId);
    expect(callback.status?.code).not.toBe(STATUS_ERROR);
    expect(attr(callback, 'http.response.status_code')).toBe(400);
    expect(attr(callback, 'error.type')).toMatch(/^[A-Z_]+$/);
    expectNoneOf(inTrace(ctx.traceId), { 'forged state and code': forged, 'user id': userId });
  });

  it('names a request on a route with an id by its template, never by its path', async () => {
    const b = stack.browser(`trace-ids-${hex(6)}`);
    const id = String(900_000 + Math.floor(Math.random() * 99_999));
    const ctx = callerContext();
    const res = await b.request('DELETE', `/me/connections/${id}`, { headers: { traceparent: ctx.traceparent, 'x-csrf': '1' } });
    expect(res.status).toBe(404);

    const span = await serverSpanOf(ctx.traceId);
    expect(span.name).toBe('DELETE /me/connections/:id');
    expect(attr(span, 'http.route')).toBe('/me/connections/:id');
    expect(attr(span, 'url.path')).toBeUndefined();
    expectNoneOf(inTrace(ctx.traceId), { 'connection id': id });
  });
});
