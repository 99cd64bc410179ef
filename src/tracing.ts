import {
  context,
  INVALID_SPAN_CONTEXT,
  isSpanContextValid,
  propagation,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  type Attributes,
  type Context,
  type Span,
  type Tracer,
  type TracerProvider,
} from '@opentelemetry/api';
import type { IncomingHttpHeaders } from 'node:http';

/**
 * Spans, written through the OpenTelemetry API alone. Until start-up registers an SDK
 * (src/ops/tracing.ts, only when the OTEL_* variables turn tracing on), the API's tracer, context
 * manager and propagator are its no-ops: a span is a shared non-recording object, `withContext`
 * calls its function, nothing is extracted or injected. So the code below runs on every request
 * whether tracing is on or not, and costs next to nothing when it is off.
 *
 * Explicit spans rather than auto-instrumentation: the instrumentations of express, http and
 * ioredis patch modules as they are imported, which this code base does not do (nothing happens
 * at import time), and they would name spans after raw paths and Redis keys, which carry user ids.
 *
 * What goes into a span: route templates, endpoint and operation names, status codes, catalogue
 * error codes, counts. Never a query string, a header value, a Redis key, a user id, a token, a
 * code or a state (test/integration/tracing.test.ts checks a whole flow for them).
 */

export const TRACER_NAME = 'powens-connect-bff';

let cached: { provider: TracerProvider; tracer: Tracer } | undefined;

/**
 * The API's tracer: a no-op until an SDK is registered, the SDK's tracer after. Kept per
 * provider: unregistering (`trace.disable()`, at shutdown) replaces the API's provider, and a
 * tracer of the old one would keep recording for an SDK that exports nothing any more.
 */
function tracer(): Tracer {
  const provider = trace.getTracerProvider();
  if (cached?.provider !== provider) cached = { provider, tracer: provider.getTracer(TRACER_NAME) };
  return cached.tracer;
}

/** Methods of the HTTP semantic conventions; any other is reported as `_OTHER`. */
const KNOWN_METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH']);

function knownMethod(method: string): string {
  return KNOWN_METHODS.has(method) ? method : '_OTHER';
}

/**
 * The span of one incoming request, a child of the caller's trace when the request carries a
 * W3C `traceparent`. Named by its method until the route is known (`endServerSpan`).
 */
export function startServerSpan(method: string, headers: IncomingHttpHeaders): { span: Span; ctx: Context | undefined } {
  const parent = propagation.extract(ROOT_CONTEXT, headers);
  const known = knownMethod(method);
  const span = tracer().startSpan(known, { kind: SpanKind.SERVER, attributes: { 'http.request.method': known } }, parent);
  // Tracing off: no context to carry (setting one copies a map, a quarter of a microsecond).
  // A span sampled out still has a valid context, carried on so Powens hears the decision.
  return { span, ctx: isSpanContextValid(span.spanContext()) ? trace.setSpan(parent, span) : undefined };
}

export interface ServerSpanEnd {
  method: string;
  /** `http` or `https`, as the service sees it (X-Forwarded-Proto from a trusted proxy). */
  scheme: string;
  /** The route template (`/me/connections/:id`), undefined when no route matched. */
  route: string | undefined;
  /** The request's path, set as `url.path` only when the route has no parameter. */
  path: string;
  status: number;
  /** The catalogue code the request ended with, if any. */
  errorCode: string | undefined;
  aborted: boolean;
}

/**
 * Names the request's span `METHOD /route/template` and ends it. `url.path` only for routes
 * without parameters (their path is the template): the others carry ids, and a path no route
 * matched is whatever a client chose to send. Never the query (/callback's carries the code
 * and the state). Error status for 5xx only: a 4xx is the client's, not the server's, failure
 * (OpenTelemetry HTTP semantic conventions); its catalogue code is `error.type` either way.
 */
export function endServerSpan(span: Span, end: ServerSpanEnd): void {
  if (span.isRecording()) {
    const attributes: Attributes = { 'http.response.status_code': end.status, 'url.scheme': end.scheme };
    if (end.route !== undefined) {
      span.updateName(`${knownMethod(end.method)} ${end.route}`);
      attributes['http.route'] = end.route;
      if (!/[:*]/.test(end.route)) attributes['url.path'] = end.path;
    }
    if (end.errorCode !== undefined) attributes['error.type'] = end.errorCode;
    else if (end.aborted) attributes['error.type'] = 'aborted';
    span.setAttributes(attributes);
    if (end.status >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
  }
  span.end();
}

/**
 * Runs `fn` with `ctx` as the active context, so the spans started under it are its children;
 * without a context (tracing off), just runs it.
 */
export function withContext<T>(ctx: Context | undefined, fn: () => T): T {
  return ctx === undefined ? fn() : context.with(ctx, fn);
}

/** What a span outside any trace is: nothing, shared. */
const NO_SPAN = trace.wrapSpanContext(INVALID_SPAN_CONTEXT);

/**
 * A child of the active span (the request's). Outside a trace (tracing off, or work no request
 * started) there is no span at all, at the cost of one map lookup.
 */
export function startSpan(name: string, attributes: Attributes, kind: SpanKind = SpanKind.INTERNAL): Span {
  const parent = context.active();
  if (trace.getSpan(parent) === undefined) return NO_SPAN;
  return tracer().startSpan(name, { kind, attributes }, parent);
}

/** Marks a span failed with a catalogue code (never an error message: those may quote input). */
export function failSpan(span: Span, errorType: string): void {
  span.setAttribute('error.type', errorType);
  span.setStatus({ code: SpanStatusCode.ERROR });
}

/**
 * The W3C trace context headers (`traceparent`, `tracestate`) naming `span` as the parent, for
 * an outgoing request; empty when tracing is off.
 */
export function traceHeaders(span: Span): Record<string, string> {
  const headers: Record<string, string> = {};
  if (!isSpanContextValid(span.spanContext())) return headers;
  propagation.inject(trace.setSpan(context.active(), span), headers);
  return headers;
}

export { SpanKind, type Span };
