import { html, layout } from './html.js';

export interface ErrorPageOptions {
  title: string;
  message: string;
  referenceId: string;
  retryPath: string | undefined;
  retryLabel?: string;
}

/** The error page: a short message, a way back, and a reference id that is also in the log. */
export function errorPage(o: ErrorPageOptions): string {
  return layout({
    title: o.title,
    body: html`<h1>${o.title}</h1>
<p class="message">${o.message}</p>
${o.retryPath === undefined ? '' : html`<p><a class="button" href="${o.retryPath}">${o.retryLabel ?? 'Try again'}</a></p>`}
<p class="reference">Reference: <code>${o.referenceId}</code></p>`,
  });
}
