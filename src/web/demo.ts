import express, { type RequestHandler } from 'express';
import { checkUserId, type Authenticator } from '../auth/user.js';
import type { Config } from '../config.js';
import { AppError } from '../errors.js';
import { singleParam } from '../http/params.js';
import { safeReturnTo } from '../http/return-to.js';
import type { RouteSpec } from '../http/routes.js';
import { sessionOp } from '../storage/session.js';
import { APP_CSS } from './assets.js';
import { DEMO_JS } from './demo-script.js';
import { html, layout } from './html.js';

export interface WebDeps {
  config: Config;
  auth: Authenticator;
  /** The session middleware: the demo knows its user from the session. */
  session: RequestHandler;
}

/**
 * The pages a person sees on this service itself: in demo mode a sign-in page and a home page
 * that drives the JSON API (scripts are files under /assets, never inline); otherwise a plain
 * landing page for the default return path.
 */
export function webRoutes(deps: WebDeps): RouteSpec[] {
  const demo = deps.auth.mode === 'demo';
  const routes: RouteSpec[] = [asset('/assets/app.css', 'text/css', APP_CSS), asset('/assets/demo.js', 'text/javascript', DEMO_JS)];

  routes.push({
    method: 'get',
    path: '/',
    format: 'page',
    use: demo ? [deps.session] : [],
    handler: async (req, res) => {
      res.setHeader('Cache-Control', 'no-store');
      if (demo) {
        const userId = await deps.auth.userId(req);
        if (userId === null) {
          res.redirect(302, '/demo/sign-in');
          return;
        }
        res.type('html').send(
          layout({
            title: 'Your bank connections',
            scripts: ['/assets/demo.js'],
            body: html`<header class="topbar">
<div class="brand"><span class="brand-mark" aria-hidden="true"></span><span>Demo app</span><span class="pill">Demo mode</span></div>
<div class="account"><span class="avatar" aria-hidden="true">${initial(userId)}</span><span>Signed in as</span> <strong id="user-id" title="${userId}">${userId}</strong> <button class="link" id="sign-out" type="button">Sign out</button></div>
</header>
<h1>Your bank connections</h1>
<p class="intro">Link your bank through Powens so the app can show your accounts. Your bank login is typed at Powens, never here.</p>
<p id="notice" class="notice hidden" role="status"></p>
<div class="section-head"><h2>Connected banks</h2><span class="count" id="count"></span></div>
<div id="connections" aria-live="polite" aria-busy="true"><div class="skeleton"></div></div>
<div class="toolbar">
<a class="button button-add" id="add-connection" href="/connect?return_to=%2F%3Fdone%3Dconnect">Add a connection</a>
<a class="button secondary hidden" id="manage" href="/manage?return_to=%2F%3Fdone%3Dmanage">Manage at Powens</a>
<span class="spacer"></span>
<button class="danger-link hidden" id="unlink" type="button">Unlink my bank</button>
</div>
<p class="footnote">Demo mode: the bank side is the built-in Powens emulator. Nothing here reaches a real bank.</p>
<dialog id="confirm" aria-labelledby="confirm-title">
<form method="dialog">
<h2 id="confirm-title"></h2>
<p id="confirm-text"></p>
<div class="row"><button class="secondary" value="cancel" type="submit">Cancel</button><button class="danger" id="confirm-ok" value="confirm" type="submit"></button></div>
</form>
</dialog>`,
          }),
        );
        return;
      }
      res.type('html').send(
        layout({
          title: 'Bank connection',
          body: html`<h1>Bank connection</h1><p class="message">You can go back to the application.</p>`,
        }),
      );
    },
  });

  if (!demo) return routes;

  routes.push({
    method: 'get',
    path: '/demo/sign-in',
    format: 'page',
    use: [deps.session],
    handler: (req, res) => {
      res.setHeader('Cache-Control', 'no-store');
      const returnTo = safeReturnTo(singleParam(req.query, 'return_to', 2048));
      res.type('html').send(
        layout({
          title: 'Sign in (demo)',
          scripts: ['/assets/demo.js'],
          body: html`<div class="sign-in">
<div class="brand"><span class="brand-mark" aria-hidden="true"></span><span>Demo app</span><span class="pill">Demo mode</span></div>
<h1>Sign in</h1>
<p class="muted">Demo mode: type any user id. In production, the app's own login says who the user is.</p>
<form id="sign-in" data-return-to="${returnTo}">
<p><label for="user-id-input">User id</label><br><input id="user-id-input" name="userId" type="text" required maxlength="128" autocomplete="username" placeholder="e.g. alice" autofocus></p>
<p id="sign-in-error" class="alert hidden" role="alert"></p>
<p><button type="submit">Sign in</button></p>
</form>
</div>`,
        }),
      );
    },
  });

  // JSON, like the rest of the API, so the global CSRF guard (X-CSRF + Origin) covers it.
  routes.push({
    method: 'post',
    path: '/demo/session',
    format: 'json',
    use: [deps.session, express.json({ limit: '2kb' })],
    handler: async (req, res) => {
      const body: unknown = req.body;
      const raw = typeof body === 'object' && body !== null ? (body as Record<string, unknown>).userId : undefined;
      if (typeof raw !== 'string') throw new AppError('USER_ID_INVALID');
      const userId = checkUserId(raw);
      // A new sign-in always gets a new session id (no fixation).
      await sessionOp(req, 'regenerate');
      req.session.demoUserId = userId;
      req.session.userId = userId;
      await sessionOp(req, 'save');
      res.status(204).end();
    },
  });

  routes.push({
    method: 'delete',
    path: '/demo/session',
    format: 'json',
    use: [deps.session],
    handler: async (req, res) => {
      await sessionOp(req, 'destroy');
      res.status(204).end();
    },
  });

  return routes;
}

/** Served from memory with a fixed content type; nothing here is generated from input. */
function asset(path: string, type: string, body: string): RouteSpec {
  return {
    method: 'get',
    path,
    format: 'page',
    handler: (_req, res) => {
      res.setHeader('Cache-Control', 'public, max-age=300');
      res.type(type).send(body);
    },
  };
}

/** The first character of a user id (a whole code point), for the avatar. */
function initial(userId: string): string {
  return Array.from(userId)[0] ?? '?';
}
