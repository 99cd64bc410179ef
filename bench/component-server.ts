/**
 * One variant of one hand-written component, alone on a bare Express 5 app, for bench/components.ts.
 * Arguments: the variant, the port. Each pair differs only in the component measured: ours (as
 * the service runs it, from src/) or the library call it replaced, doing the same work.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import express, { type RequestHandler } from 'express';
import pino from 'pino';
import { requestContext, requestId } from '../src/http/request-context.js';
import { Metrics } from '../src/metrics.js';

export const VARIANTS = ['logger-ours', 'logger-pino-http'] as const;
export type Variant = (typeof VARIANTS)[number];

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
  if (variant === 'logger-ours') app.use(requestContext({ logger, metrics, lifecycle: { shuttingDown: false } }));
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
  return app;
}

const variant = process.argv[2] as Variant;
if (!VARIANTS.includes(variant)) throw new Error(`unknown variant ${String(process.argv[2])}`);
const server = build(variant).listen(Number(process.argv[3] ?? 0), '127.0.0.1');
process.on('SIGTERM', () => server.close(() => process.exit(0)));
