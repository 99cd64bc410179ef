import express, { type Request, type RequestHandler, type Response } from 'express';
import { checkUserId, type Authenticator } from '../auth/user.js';
import type { Config } from '../config.js';
import { AppError } from '../errors.js';
import { html, layout, messagePage, type SafeHtml } from '../http/html.js';
import { singleParam } from '../http/params.js';
import { defaultLanding, safeReturnTo } from '../http/return-to.js';
import type { RouteSpec } from '../http/routes.js';
import { languageOf, messagesWhere, t, type Lang } from '../i18n/index.js';
import { sessionExpiry, sessionOp } from '../storage/session.js';
import type { UserSessions } from '../storage/user-sessions.js';
import { APP_CSS } from './assets.js';
import { DEMO_JS } from './demo-script.js';

export interface WebDeps {
  config: Config;
  auth: Authenticator;
  /** The session middleware: the demo knows its user from the session. */
  session: RequestHandler;
  /** The bound on sessions per user: a sign-in counts as one. */
  sessions: UserSessions;
}

/**
 * The pages a person sees on this service itself, in the reader's language: in demo mode a
 * sign-in page and a home page that drives the JSON API (scripts are files under /assets, never
 * inline); otherwise a plain landing page for the default return path.
 */
export function webRoutes(deps: WebDeps): RouteSpec[] {
  const demo = deps.auth.mode === 'demo';
  const { config } = deps;
  const landing = defaultLanding(config.returnToOrigins);
  const langOf = (req: Request, res: Response): Lang => {
    const lang = languageOf(config.powens.webviewLang, req.headers);
    res.setHeader('Content-Language', lang);
    return lang;
  };
  const routes: RouteSpec[] = [asset('/assets/app.css', 'text/css', APP_CSS), asset('/assets/demo.js', 'text/javascript', DEMO_JS)];

  routes.push({
    method: 'get',
    path: '/',
    format: 'page',
    use: demo ? [deps.session] : [],
    handler: async (req, res) => {
      res.setHeader('Cache-Control', 'no-store');
      const lang = langOf(req, res);
      if (demo) {
        const userId = await deps.auth.userId(req);
        if (userId === null) {
          // Back here after signing in, whatever the default landing is.
          res.redirect(302, '/demo/sign-in?return_to=%2F');
          return;
        }
        res.type('html').send(demoHome(lang, userId));
        return;
      }
      // Where a flow lands when the app named no way back and RETURN_TO_ORIGINS is unset.
      res.type('html').send(
        messagePage({
          lang,
          demo,
          title: t(lang, 'page.landing.title'),
          message: t(lang, 'page.landing.message'),
          links: landing === '/' ? [] : [{ href: landing, label: t(lang, 'page.back'), action: 'back' }],
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
      const lang = langOf(req, res);
      // The same rule as a flow's return_to: a path here, or the app's frontend (RETURN_TO_ORIGINS).
      const returnTo = safeReturnTo(singleParam(req.query, 'return_to', 2048), config.returnToOrigins);
      res.type('html').send(
        layout({
          lang,
          demo,
          title: t(lang, 'demo.signIn.title'),
          scripts: ['/assets/demo.js'],
          body: html`<div class="sign-in">
<h1>${t(lang, 'demo.signIn.heading')}</h1>
<p class="muted">${t(lang, 'demo.signIn.hint')}</p>
<form id="sign-in" data-return-to="${returnTo}">
<p><label for="user-id-input">${t(lang, 'demo.signIn.label')}</label><br><input id="user-id-input" name="userId" type="text" required maxlength="128" autocomplete="username" placeholder="${t(lang, 'demo.signIn.placeholder')}" autofocus></p>
<p id="sign-in-error" class="alert hidden" role="alert"></p>
<p><button type="submit">${t(lang, 'demo.signIn.submit')}</button></p>
</form>
${scriptMessages(lang)}
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
      // The sign-in keeps SESSION_TTL_SECONDS (the cookie's default length).
      await Promise.all([sessionOp(req, 'save'), deps.sessions.track(userId, req.sessionID, sessionExpiry(req, config))]);
      res.status(204).end();
    },
  });

  routes.push({
    method: 'delete',
    path: '/demo/session',
    format: 'json',
    use: [deps.session],
    handler: async (req, res) => {
      const signedIn = req.session.userId;
      if (signedIn !== undefined) await deps.sessions.forget(signedIn, req.sessionID);
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

/** The demo's home: its script fills the list from the JSON API. */
function demoHome(lang: Lang, userId: string): string {
  return layout({
    lang,
    demo: true,
    title: t(lang, 'demo.home.title'),
    scripts: ['/assets/demo.js'],
    headerEnd: html`<div class="account"><span class="avatar" aria-hidden="true">${initial(userId)}</span><span class="account-label">${t(lang, 'demo.home.signedInAs')}</span> <strong id="user-id" title="${userId}">${userId}</strong> <button class="link" id="sign-out" type="button">${t(lang, 'demo.home.signOut')}</button></div>`,
    body: html`<h1>${t(lang, 'demo.home.title')}</h1>
<p class="intro">${t(lang, 'demo.home.intro')}</p>
<p id="notice" class="notice hidden" role="status"></p>
<div class="section-head"><h2>${t(lang, 'demo.home.connectedBanks')}</h2><span class="count" id="count"></span></div>
<div id="connections" aria-live="polite" aria-busy="true"><div class="skeleton"></div></div>
<div class="toolbar">
<a class="button button-add" id="add-connection" href="/connect?return_to=%2F%3Fdone%3Dconnect">${t(lang, 'demo.home.add')}</a>
<a class="button secondary hidden" id="manage" href="/manage?return_to=%2F%3Fdone%3Dmanage">${t(lang, 'demo.home.manage')}</a>
<span class="spacer"></span>
<button class="danger-link hidden" id="unlink" type="button">${t(lang, 'demo.home.unlink')}</button>
</div>
<p class="footnote">${t(lang, 'demo.home.footnote')}</p>
<dialog id="confirm" aria-labelledby="confirm-title">
<form method="dialog">
<h2 id="confirm-title"></h2>
<p id="confirm-text"></p>
<div class="row"><button class="secondary" value="cancel" type="submit">${t(lang, 'demo.home.cancel')}</button><button class="danger" id="confirm-ok" value="confirm" type="submit"></button></div>
</form>
</dialog>
${scriptMessages(lang)}`,
  });
}

/**
 * The messages the demo's script shows, from the one catalogue, in the page's language: in a
 * data attribute (escaped like any attribute), since the page carries no inline script.
 */
function scriptMessages(lang: Lang): SafeHtml {
  return html`<div id="messages" class="hidden" data-lang="${lang}" data-messages="${JSON.stringify(messagesWhere(lang, forScript))}"></div>`;
}

/** The demo's own texts, and the message of each error code for the problems the API answers. */
function forScript(key: string): boolean {
  return key.startsWith('demo.') || (key.startsWith('error.') && key.endsWith('.message'));
}

/** The first character of a user id (a whole code point), for the avatar. */
function initial(userId: string): string {
  return Array.from(userId)[0] ?? '?';
}
