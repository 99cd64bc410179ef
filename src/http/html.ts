/**
 * HTML by tagged template: every interpolated value is escaped unless it is a `SafeHtml`
 * built by this module. Pages carry no inline script or style, so they work under a strict CSP.
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

type Part = SafeHtml | string | number | null | undefined | readonly Part[];

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

export interface LayoutOptions {
  title: string;
  body: SafeHtml;
  scripts?: string[];
}

// Inline (a data: URL, allowed by img-src) so that browsers do not ask for /favicon.ico, a 404.
const FAVICON =
  "data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 32 32'%3E%3Crect width='32' height='32' rx='8' fill='%232f5bea'/%3E%3Cpath d='M8 13h16M10 13v9m4-9v9m4-9v9m4-9v9M7 24h18M16 7l9 5H7z' stroke='white' stroke-width='2' fill='none'/%3E%3C/svg%3E";

export function layout({ title, body, scripts = [] }: LayoutOptions): string {
  return html`<!doctype html>
<html lang="en">
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
${body}
</main>
</body>
</html>
`.value;
}
