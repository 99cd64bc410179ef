import { context, diag, DiagLogLevel, propagation, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter as JsonExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPTraceExporter as ProtobufExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { defaultResource, resourceFromAttributes } from '@opentelemetry/resources';
import {
  AlwaysOffSampler,
  AlwaysOnSampler,
  BatchSpanProcessor,
  ParentBasedSampler,
  TraceIdRatioBasedSampler,
  TracerProvider,
  type Sampler,
} from '@opentelemetry/sdk-trace';
import { ATTR_SERVICE_NAME } from '@opentelemetry/semantic-conventions';
import type { Config } from '../config.js';
import type { Logger } from '../logging.js';

type On = Extract<Config['tracing'], { enabled: true }>;
type Compression = NonNullable<NonNullable<ConstructorParameters<typeof JsonExporter>[0]>['compression']>;

export interface Tracing {
  /** Exports every span ended so far (tests; the shutdown does it too). */
  flush(): Promise<void>;
  /** Flushes, stops exporting and unregisters the SDK (at most `timeoutMs`). */
  shutdown(timeoutMs?: number): Promise<void>;
}

/** The samplers of OTEL_TRACES_SAMPLER (OpenTelemetry, "General SDK Configuration"). */
function sampler(cfg: On): Sampler {
  const ratio = new TraceIdRatioBasedSampler(cfg.samplerRatio);
  switch (cfg.sampler) {
    case 'always_on':
      return new AlwaysOnSampler();
    case 'always_off':
      return new AlwaysOffSampler();
    case 'traceidratio':
      return ratio;
    case 'parentbased_always_on':
      return new ParentBasedSampler({ root: new AlwaysOnSampler() });
    case 'parentbased_always_off':
      return new ParentBasedSampler({ root: new AlwaysOffSampler() });
    case 'parentbased_traceidratio':
      return new ParentBasedSampler({ root: ratio });
  }
}

/**
 * The SDK reports an export failure as a serialized exception (stack included): its message is
 * enough for the log.
 */
function reasonOf(message: unknown): string {
  if (typeof message !== 'string') return 'unknown';
  try {
    const parsed: unknown = JSON.parse(message);
    if (typeof parsed === 'object' && parsed !== null && 'message' in parsed && typeof parsed.message === 'string') return parsed.message.slice(0, 200);
  } catch {
    // Not JSON: a plain diagnostic line.
  }
  return message.slice(0, 200);
}

/**
 * Turns tracing on for this process, when the configuration says so (else returns undefined and
 * the API stays a no-op): an SDK tracer provider with a batch processor and an OTLP/HTTP
 * exporter, the AsyncLocalStorage context manager (a request's spans find their parent across
 * awaits), and the W3C trace context propagator (an incoming `traceparent` is honoured, Powens
 * calls carry one). Baggage is not propagated: a client's baggage is not ours to hand to Powens.
 *
 * Everything comes from the configuration, explicitly: `@opentelemetry/sdk-trace` is the SDK
 * without its environment fallbacks (the `sdk-trace-base` and `sdk-trace-node` packages read
 * OTEL_* themselves), and the exporter gets its URL, headers and timeout from here. Registered
 * globally, once per process: spans are started through the API's global tracer
 * (src/tracing.ts), by modules that have no handle on start-up.
 *
 * Export failures (a collector down) never touch requests: the batch processor drops spans
 * when its queue is full, and the SDK reports failures through its diagnostic logger, which
 * goes to the service log at warn, at most one line every 10 seconds.
 */
export function startTracing(config: Config['tracing'], logger: Logger): Tracing | undefined {
  if (!config.enabled) return undefined;
  let lastLog = Number.NEGATIVE_INFINITY;
  const report = (message: unknown): void => {
    if (Date.now() - lastLog < 10_000) return;
    lastLog = Date.now();
    logger.warn({ tracing: config.url, reason: reasonOf(message) }, 'tracing: the OpenTelemetry SDK reported a problem (spans may be lost)');
  };
  const quiet = (): void => undefined;
  diag.setLogger({ error: report, warn: report, info: quiet, debug: quiet, verbose: quiet }, { logLevel: DiagLogLevel.WARN, suppressOverrideMessage: true });

  const exporterOptions = {
    url: config.url,
    headers: config.headers,
    timeoutMillis: config.timeoutMs,
    // The exporter's CompressionAlgorithm enum, whose values are these very strings.
    compression: config.compression as Compression,
  };
  const exporter = config.protocol === 'http/json' ? new JsonExporter(exporterOptions) : new ProtobufExporter(exporterOptions);
  const provider = new TracerProvider({
    resource: defaultResource().merge(resourceFromAttributes({ ...config.resourceAttributes, [ATTR_SERVICE_NAME]: config.serviceName })),
    sampler: sampler(config),
    // The SDK's defaults, written out so that no OTEL_BSP_* variable changes them behind the
    // configuration's back: a batch every 5 s or 512 spans, at most 2048 waiting (then dropped).
    spanProcessors: [
      new BatchSpanProcessor({
        exporter,
        scheduledDelayMillis: 5000,
        maxExportBatchSize: 512,
        maxQueueSize: 2048,
        exportTimeoutMillis: config.timeoutMs + 1000,
      }),
    ],
  });
  trace.setGlobalTracerProvider(provider);
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  logger.info({ tracing: config.url, protocol: config.protocol, sampler: config.sampler }, 'tracing on: spans exported over OTLP/HTTP');

  return {
    flush: () => provider.forceFlush(),
    shutdown: async (timeoutMs = 2000) => {
      try {
        await Promise.race([provider.shutdown(), new Promise((r) => setTimeout(r, timeoutMs).unref())]);
      } finally {
        trace.disable();
        context.disable();
        propagation.disable();
        diag.disable();
      }
    },
  };
}
