import { messageParts, t, type Lang, type MessageKey } from '../i18n/index.js';

/**
 * HTML by tagged template: every interpolated value is escaped unless it is a `SafeHtml`
 * built by this module. Pages carry no inline script or style, so they work under a strict CSP.
 * The page shell is here, below the features, because two of them render pages: web/ (the
 * error pages, the demo) and flows/ (a flow that was already finished).
 */

export class SafeHtml {
  constructor(readonly value: string) {}
  toString(): string {
    return this.value;
  }
}

const ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
  '`': '&#96;',
};

export function escapeHtml(value: unknown): string {
  return String(value).replace(/[&<>"'`]/g, (c) => ESCAPES[c] ?? c);
}

export type Part = SafeHtml | string | number | null | undefined | readonly Part[];

function render(part: Part): string {
  if (part === null || part === undefined) return '';
  if (part instanceof SafeHtml) return part.value;
  if (Array.isArray(part)) return part.map((p: Part) => render(p)).join('');
  return escapeHtml(part);
}

export function html(strings: TemplateStringsArray, ...values: Part[]): SafeHtml {
  let out = strings[0] ?? '';
  values.forEach((v, i) => {
    out += render(v) + (strings[i + 1] ?? '');
  });
  return new SafeHtml(out);
}

/** A message of the catalogue with markup in its placeholders (`Reference: <code>…</code>`): the text is escaped. */
export function messageHtml(lang: Lang, key: MessageKey, params: Record<string, Part>): SafeHtml {
  const { text, names } = messageParts(lang, key);
  return new SafeHtml(text.map((chunk, i) => escapeHtml(chunk) + (i < names.length ? render(params[names[i] ?? ''] ?? '') : '')).join(''));
}

export interface LayoutOptions {
  lang: Lang;
  title: string;
  body: SafeHtml;
  /** The demo's pages name the demo app in their header; the service's own name the task. */
  demo: boolean;
  /** The right end of the header (the demo's signed-in user). */
  headerEnd?: SafeHtml;
  scripts?: string[];
}

// Inline (a data: URL, allowed by img-src) so that browsers do not ask for /favicon.ico, a 404.
const FAVICON =
  "data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 32 32'%3E%3Crect width='32' height='32' rx='8' fill='%232f5bea'/%3E%3Cpath d='M8 13h16M10 13v9m4-9v9m4-9v9M7 24h18M16 7l9 5H7z' stroke='white' stroke-width='2' fill='none'/%3E%3C/svg%3E";

/** Every page: the same header (brand, and the demo's pill), then the page's own body. */
export function layout({ lang, title, body, demo, headerEnd, scripts = [] }: LayoutOptions): string {
  return html`<!doctype html>
<html lang="${lang}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>${title}</title>
<link rel="icon" href="${FAVICON}">
<link rel="stylesheet" href="/assets/app.css">
${scripts.map((s) => html`<script type="module" src="${s}"></script>`)}
</head>
<body>
<main class="card">
<header class="topbar">
<div class="brand"><span class="brand-mark" aria-hidden="true"></span><span>${t(lang, demo ? 'page.brandDemo' : 'page.brand')}</span>${demo ? html`<span class="pill">${t(lang, 'page.demoPill')}</span>` : ''}</div>
${headerEnd}
</header>
${body}
</main>
</body>
</html>
`.value;
}

export interface PageLink {
  href: string;
  label: string;
  /** `back` to the app, or `retry`: what the link does (tests and scripts find it by this). */
  action: 'back' | 'retry';
}

export interface MessagePageOptions {
  lang: Lang;
  demo: boolean;
  title: string;
  message: string;
  /** The first is the main button. */
  links: readonly PageLink[];
  /** A reference id that is also in the log line (error pages). */
  referenceId?: string;
}

/** A page with a title, one message and its ways on: error pages, "already finished". */
export function messagePage(o: MessagePageOptions): string {
  return layout({
    lang: o.lang,
    demo: o.demo,
    title: o.title,
    body: html`<h1>${o.title}</h1>
<p class="message">${o.message}</p>
<p class="actions">${o.links.map(
      (l, i) => html`<a class="${i === 0 ? 'button' : 'button secondary'}" data-action="${l.action}" href="${l.href}">${l.label}</a>`,
    )}</p>
${o.referenceId === undefined ? '' : html`<p class="reference">${messageHtml(o.lang, 'page.reference', { id: html`<code>${o.referenceId}</code>` })}</p>`}`,
  });
}
