import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Express } from 'express';
import type { Config } from './config.js';
import type { Lifecycle } from './lifecycle.js';
import type { Logger } from './logging.js';

export interface RunningServer {
  server: http.Server;
  url: string;
  /** Graceful: readiness 503, no new connections, in-flight requests finish, idle sockets close. */
  shutdown(): Promise<void>;
}

export async function startServer(
  app: Express,
  opts: { config: Config; lifecycle: Lifecycle; logger: Logger; port?: number; host?: string },
): Promise<RunningServer> {
  const { config, lifecycle, logger } = opts;
  const server = http.createServer(app);
  // Above the load balancer's idle timeout (60 s on most), so the balancer, not us, closes idle
  // connections: otherwise it may send a request on a socket we are closing.
  server.keepAliveTimeout = config.keepAliveTimeoutMs;
  server.headersTimeout = config.keepAliveTimeoutMs + 1000;
  server.requestTimeout = 60_000;
  // Responses in progress, so that shutdown can ask their connections to close once they are
  // sent: Node keeps such a connection open after its response (until keepAliveTimeout), and
  // server.close() would wait for it.
  const inFlight = new Set<http.ServerResponse>();
  server.on('request', (_req: http.IncomingMessage, res: http.ServerResponse) => {
    inFlight.add(res);
    res.once('close', () => {
      inFlight.delete(res);
      // The socket is idle now (its response is done): close it rather than wait for the client.
      if (lifecycle.shuttingDown) setImmediate(() => server.closeIdleConnections());
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? config.port, opts.host ?? config.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const url = `http://${host === '0.0.0.0' || host === '[::]' ? '127.0.0.1' : host}:${address.port}`;

  let closing: Promise<void> | undefined;
  const shutdown = (): Promise<void> => {
    closing ??= new Promise<void>((resolve) => {
      lifecycle.shuttingDown = true;
      logger.info('shutting down: readiness is 503, finishing in-flight requests');
      const force = setTimeout(() => {
        logger.warn('shutdown timeout: closing the remaining connections');
        server.closeAllConnections();
      }, config.shutdownTimeoutMs);
      force.unref();
      // close() stops accepting, and (Node 19+) closes idle keep-alive sockets; busy ones close
      // after their response, which the request context marks `Connection: close` (ops/logger.ts).
      server.close(() => {
        clearTimeout(force);
        resolve();
      });
      server.closeIdleConnections();
      // Responses not started yet go out with `Connection: close`, and Node ends the socket
      // after them; the 'close' hook above catches those already streaming.
      for (const res of inFlight) {
        if (!res.headersSent) res.shouldKeepAlive = false;
      }
    });
    return closing;
  };
  return { server, url, shutdown };
}
