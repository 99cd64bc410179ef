import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Express } from 'express';
import type { Config } from './config.js';
import type { Lifecycle } from './lifecycle.js';
import type { Logger } from './logging.js';

export interface RunningServer {
  server: http.Server;
  url: string;
  /**
   * Graceful: readiness 503 at once while the listener still serves for SHUTDOWN_DELAY_MS (the
   * load balancer sees the 503 and stops sending), then no new connections, idle and half-open
   * sockets closed, in-flight requests finish within SHUTDOWN_TIMEOUT_MS, the rest are cut.
   */
  shutdown(): Promise<void>;
}

type ServerTimings = Pick<
  Config,
  'port' | 'host' | 'keepAliveTimeoutMs' | 'headersTimeoutMs' | 'requestTimeoutMs' | 'maxConnections' | 'shutdownDelayMs' | 'shutdownTimeoutMs'
>;

/** How often Node looks for connections past their headers or request timeout (its default, 30 s, would add up to that much to each). */
const CONNECTIONS_CHECK_MS = 1000;

export async function startServer(
  app: Express,
  opts: { config: ServerTimings; lifecycle: Lifecycle; logger: Logger; port?: number; host?: string },
): Promise<RunningServer> {
  const { config, lifecycle, logger } = opts;
  // A load balancer sends a request's head at once: a client that takes seconds (or sends
  // nothing after connecting) is slow or hostile, and is answered 408 and let go instead of
  // holding a socket for a minute and a half. requestTimeout bounds receiving the request only,
  // never the answer (slow Powens calls have their own deadline). Idle keep-alive sockets are
  // not concerned: the headers clock starts at a request's first byte.
  const server = http.createServer(
    { headersTimeout: config.headersTimeoutMs, requestTimeout: config.requestTimeoutMs, connectionsCheckingInterval: CONNECTIONS_CHECK_MS },
    app,
  );
  // Above the load balancer's idle timeout (60 s on most), so the balancer, not us, closes idle
  // connections: otherwise it may send a request on a socket we are closing.
  server.keepAliveTimeout = config.keepAliveTimeoutMs;
  // Past the cap Node closes new connections at once, rather than run out of file descriptors
  // (an EMFILE also breaks the Redis and Powens connections the process needs).
  if (config.maxConnections > 0) server.maxConnections = config.maxConnections;

  // Every socket, and how many requests each has under way: at shutdown, a socket with none is
  // idle or half-open (connected, its request head not complete) and is closed at once, so a
  // silent or slow client never holds the exit until the deadline.
  const sockets = new Set<Socket>();
  const busy = new Map<Socket, number>();
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => {
      sockets.delete(socket);
      busy.delete(socket);
    });
  });
  let draining = false;
  // Responses in progress, so that shutdown can ask their connections to close once they are
  // sent: Node keeps such a connection open after its response (until keepAliveTimeout), and
  // server.close() would wait for it.
  const inFlight = new Set<http.ServerResponse>();
  server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
    const socket = req.socket;
    busy.set(socket, (busy.get(socket) ?? 0) + 1);
    inFlight.add(res);
    res.once('close', () => {
      inFlight.delete(res);
      const left = (busy.get(socket) ?? 1) - 1;
      if (left > 0) busy.set(socket, left);
      else busy.delete(socket);
      // The socket is idle now (its response is done): close it rather than wait for the client.
      if (draining) setImmediate(() => server.closeIdleConnections());
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

  const drain = (): Promise<void> =>
    new Promise<void>((resolve) => {
      draining = true;
      const force = setTimeout(() => {
        logger.warn({ inFlight: inFlight.size }, 'shutdown timeout: closing the remaining connections');
        server.closeAllConnections();
        for (const socket of sockets) socket.destroy();
      }, config.shutdownTimeoutMs);
      force.unref();
      // close() stops accepting; it calls back once every connection is gone.
      server.close(() => {
        clearTimeout(force);
        resolve();
      });
      for (const socket of sockets) if (!busy.has(socket)) socket.destroy();
      // Said once it is true (the listener is closed): a test or an operator may act on the line.
      logger.info({ inFlight: inFlight.size }, 'stopped accepting connections: finishing in-flight requests');
      // Responses not started yet go out with `Connection: close`, and Node ends the socket
      // after them; the 'close' hook above catches those already streaming.
      for (const res of inFlight) {
        if (!res.headersSent) res.shouldKeepAlive = false;
      }
    });

  let closing: Promise<void> | undefined;
  const shutdown = (): Promise<void> => {
    closing ??= (async () => {
      lifecycle.shuttingDown = true;
      logger.info(
        { delayMs: config.shutdownDelayMs },
        'shutting down: readiness is 503, still serving for SHUTDOWN_DELAY_MS so the load balancer sees it, then draining',
      );
      // Answers given meanwhile carry `Connection: close` (request context), so clients reconnect,
      // elsewhere once the balancer has taken this instance out.
      if (config.shutdownDelayMs > 0) await new Promise((r) => setTimeout(r, config.shutdownDelayMs));
      await drain();
    })();
    return closing;
  };
  return { server, url, shutdown };
}
