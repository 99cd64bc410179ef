import type { IncomingMessage, ServerResponse } from 'node:http';
import type { RequestHandler } from 'express';
import helmet from 'helmet';
import type { Config } from '../config.js';

/** The policy: helmet's defaults with a strict CSP for our own pages and no Referer ever. */
export function securityPolicy(config: Pick<Config, 'secureCookies'>): ReturnType<typeof helmet> {
  return helmet({
    contentSecurityPolicy: {
      useDefaults: false,
      directives: {
        defaultSrc: ["'self'"],
        scriptSrc: ["'self'"],
        styleSrc: ["'self'"],
        imgSrc: ["'self'", 'data:'],
        connectSrc: ["'self'"],
        fontSrc: ["'self'"],
        objectSrc: ["'none'"],
        baseUri: ["'none'"],
        frameAncestors: ["'none'"],
        formAction: ["'self'"],
        ...(config.secureCookies ? { upgradeInsecureRequests: [] } : {}),
      },
    },
    // HSTS only for an https PUBLIC_URL: sent for a local http setup, it would pin the host
    // name (localhost) to https for a year in the developer's browser.
    strictTransportSecurity: config.secureCookies ? { maxAge: 31536000, includeSubDomains: true } : false,
    // The callback URL carries a code: no page of ours may leak it in a Referer.
    referrerPolicy: { policy: 'no-referrer' },
    // Like frame-ancestors 'none', for browsers that only know X-Frame-Options.
    xFrameOptions: { action: 'deny' },
    crossOriginEmbedderPolicy: false,
  });
}

/**
 * The headers helmet sets, with the values helmet computes, worked out once at start-up and
 * then copied onto every response. Helmet rebuilds and re-validates the CSP string and runs a
 * chain of a dozen middlewares on each request, although nothing in this policy depends on the
 * request (no nonce): that was a few percent of the CPU of a health check. Helmet stays the one
 * source of the names and values; a test compares the replayed headers with helmet's own
 * middleware run per request, for both http and https settings.
 */
export function securityHeaders(config: Pick<Config, 'secureCookies'>): RequestHandler {
  const set: [string, string][] = [];
  const removed: string[] = [];
  const recorder = {
    setHeader(name: string, value: number | string | readonly string[]): void {
      set.push([name, String(value)]);
    },
    removeHeader(name: string): void {
      removed.push(name);
    },
  };
  let failure: unknown;
  let finished = false;
  securityPolicy(config)({} as IncomingMessage, recorder as unknown as ServerResponse, (err?: unknown) => {
    failure = err;
    finished = true;
  });
  // Helmet is synchronous today; if a version ever is not, or ever reads the request, this
  // start-up check says so instead of sending incomplete headers.
  if (!finished || failure !== undefined) throw new Error('securityHeaders: helmet did not complete synchronously', { cause: failure });
  return (_req, res, next) => {
    for (const name of removed) res.removeHeader(name);
    for (const [name, value] of set) res.setHeader(name, value);
    next();
  };
}
