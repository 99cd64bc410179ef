import express, { Router } from 'express';
import type { Config } from '../config.js';
import { AppError } from '../errors.js';
import { checkUserId, type Authenticator } from '../auth/user.js';
import { safeReturnTo } from '../http/return-to.js';
import { singleParam } from '../http/params.js';
import { html, layout } from './html.js';

/**
 * The pages a person sees on this service itself: in demo mode a sign-in page and a home page
 * that drives the JSON API (scripts are files under /assets, never inline); otherwise a plain
 * landing page for the default return path.
 */
export function pagesRouter(deps: { config: Config; auth: Authenticator }): Router {
  const router = Router();
  const demo = deps.auth.mode === 'demo';

  router.get('/', async (req, res) => {
    res.locals.route = '/';
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
          body: html`<div class="row"><h1>Your bank connections</h1></div>
<p class="muted">Signed in as <strong id="user-id">${userId}</strong> · <button class="secondary" id="sign-out" type="button">Sign out</button></p>
<p id="notice" class="message hidden" role="status"></p>
<div id="connections" aria-live="polite"><p class="muted">Loading…</p></div>
<div class="row">
<a class="button" id="add-connection" href="/connect">Add a connection</a>
<a class="button secondary hidden" id="manage" href="/manage">Manage</a>
<button class="danger hidden" id="unlink" type="button">Unlink my bank</button>
</div>`,
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
  });

  if (!demo) return router;

  router.get('/demo/sign-in', (req, res) => {
    res.locals.route = '/demo/sign-in';
    res.setHeader('Cache-Control', 'no-store');
    const returnTo = safeReturnTo(singleParam(req.query, 'return_to', 2048));
    res.type('html').send(
      layout({
        title: 'Sign in (demo)',
        scripts: ['/assets/demo.js'],
        body: html`<h1>Sign in</h1>
<p class="muted">Demo mode: type any user id. In production the app's own login says who the user is.</p>
<form id="sign-in" data-return-to="${returnTo}">
<p><label for="user-id-input">User id</label><br><input id="user-id-input" name="userId" type="text" required maxlength="128" autocomplete="username" autofocus></p>
<p id="sign-in-error" class="message hidden" role="alert"></p>
<p><button type="submit">Sign in</button></p>
</form>`,
      }),
    );
  });

  // JSON, like the rest of the API, so the global CSRF guard (X-CSRF + Origin) covers it.
  router.post('/demo/session', express.json({ limit: '2kb' }), async (req, res) => {
    res.locals.route = '/demo/session';
    res.locals.format = 'json';
    const body: unknown = req.body;
    const raw = typeof body === 'object' && body !== null ? (body as Record<string, unknown>).userId : undefined;
    if (typeof raw !== 'string') throw new AppError('USER_ID_INVALID');
    const userId = checkUserId(raw);
    // A new sign-in always gets a new session id (no fixation).
    await new Promise<void>((resolve, reject) => req.session.regenerate((err: unknown) => (err ? reject(err) : resolve())));
    req.session.demoUserId = userId;
    req.session.userId = userId;
    await new Promise<void>((resolve, reject) => req.session.save((err: unknown) => (err ? reject(err) : resolve())));
    res.status(204).end();
  });

  router.delete('/demo/session', async (req, res) => {
    res.locals.route = '/demo/session';
    res.locals.format = 'json';
    await new Promise<void>((resolve, reject) => req.session.destroy((err: unknown) => (err ? reject(err) : resolve())));
    res.status(204).end();
  });

  return router;
}
