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
 * Helmet's middleware, run on each request. Replaying its headers computed once at start-up
 * earned nothing measurable (-3.7 % of `/healthz` in `npm run bench`, components: within the
 * noise), so the library runs as it is meant to (docs/PERFORMANCE.md).
 */
export function securityHeaders(config: Pick<Config, 'secureCookies'>): RequestHandler {
  return securityPolicy(config);
}
