import { errorText, type ErrorCode } from '../errors.js';
import { messagePage, type PageLink } from '../http/html.js';
import type { RetryAction } from '../http/locals.js';
import { t, type Lang } from '../i18n/index.js';

/**
 * Codes whose page offers no "try again": doing the same again cannot change the answer (no
 * such page or connection, no user, a request no browser of ours sends). Every other page
 * offers it where the flow is known (or for NOT_LINKED: add a connection).
 */
const NO_RETRY: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  'USER_REQUIRED',
  'USER_ID_INVALID',
  'NOT_FOUND',
  'CONNECTION_NOT_FOUND',
  'METHOD_NOT_ALLOWED',
  'CSRF_HEADER_MISSING',
  'ORIGIN_FORBIDDEN',
  'PAYLOAD_TOO_LARGE',
  'UNSUPPORTED_MEDIA_TYPE',
  'WEBHOOK_UNAUTHORIZED',
]);

const RETRY_LABELS = {
  connect: 'page.retry.connect',
  reconnect: 'page.retry.reconnect',
  manage: 'page.retry.manage',
  add: 'page.retry.add',
} as const satisfies Record<RetryAction, string>;

export interface ErrorPageOptions {
  lang: Lang;
  demo: boolean;
  code: ErrorCode;
  referenceId: string;
  /** The way back to the app: always there. */
  backTo: string;
  retry: { path: string; action: RetryAction } | undefined;
}

/** The error page: a short message, the way back to the app, "try again" where it makes sense, a reference id that is also in the log. */
export function errorPage(o: ErrorPageOptions): string {
  const text = errorText(o.code, o.lang);
  const links: PageLink[] = [{ href: o.backTo, label: t(o.lang, 'page.back'), action: 'back' }];
  if (o.retry !== undefined && !NO_RETRY.has(o.code)) links.push({ href: o.retry.path, label: t(o.lang, RETRY_LABELS[o.retry.action]), action: 'retry' });
  return messagePage({ lang: o.lang, demo: o.demo, title: text.title, message: text.message, links, referenceId: o.referenceId });
}
