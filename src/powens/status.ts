import { t, type Lang } from '../i18n/index.js';
import { isoDate } from './dates.js';
import type { PowensConnection } from './types.js';

export const CONNECTION_STATUSES = ['ok', 'syncing', 'action_needed', 'temporary_error', 'unknown'] as const;
export type ConnectionStatus = (typeof CONNECTION_STATUSES)[number];

/** Powens states where the user must act (reconnect); docs/POWENS-API.md lists each state's meaning. */
export const ACTION_NEEDED_STATES = [
  'SCARequired',
  'webauthRequired',
  'additionalInformationNeeded',
  'decoupled',
  'actionNeeded',
  'passwordExpired',
  'wrongpass',
] as const;
/** Powens states that clear by themselves. */
export const TEMPORARY_ERROR_STATES = ['rateLimiting', 'websiteUnavailable', 'bug'] as const;
/**
 * Powens states where the bank refused the stored credentials: their reconnect opens the webview
 * with `reset_credentials=true`, so the user types new ones (DOCS webview, reconnect flow).
 */
export const RESET_CREDENTIALS_STATES = ['wrongpass', 'passwordExpired'] as const;
const ACTION_NEEDED = new Set<string>(ACTION_NEEDED_STATES);
const RESET_CREDENTIALS = new Set<string>(RESET_CREDENTIALS_STATES);
const TEMPORARY = new Set<string>(TEMPORARY_ERROR_STATES);

/** Powens' `state` (null when the last sync went well) to the status the JSON API serves (README, "JSON API"). */
export function connectionStatus(state: string | null | undefined, lastUpdate: string | null | undefined): ConnectionStatus {
  if (state === null || state === undefined) return lastUpdate ? 'ok' : 'syncing';
  if (state === 'validating') return 'syncing';
  if (ACTION_NEEDED.has(state)) return 'action_needed';
  if (TEMPORARY.has(state)) return 'temporary_error';
  return 'unknown';
}

export interface ConnectionView {
  id: number;
  connector: { id: number | null; name: string | null; uuid: string | null };
  state: string | null;
  status: ConnectionStatus;
  message: string | null;
  lastUpdate: string | null;
  createdAt: string | null;
  expiresAt: string | null;
  expiresSoon: boolean;
  active: boolean;
  reconnectUrl: string | null;
}

/** Powens' `state` of a connection, or its legacy twin `error` when only that one is sent. */
function stateOf(c: PowensConnection): string | null {
  // Older API versions send only `error`: read alone, `state` would show a connection that
  // needs the user as ok.
  return c.state !== undefined ? c.state : (c.error ?? null);
}

/** Whether a reconnect of this connection must ask the user for new credentials. */
export function needsNewCredentials(c: PowensConnection): boolean {
  const state = stateOf(c);
  return state !== null && RESET_CREDENTIALS.has(state);
}

export interface ViewOptions {
  /** How zone-less Powens dates are read (POWENS_TIMEZONE). */
  timeZone: string;
  /** A consent ending within this many days is `expiresSoon` (CONSENT_WARNING_DAYS). */
  consentWarningDays: number;
  /** Now, in ms since the epoch. */
  now: number;
}

export function toConnectionView(c: PowensConnection, opts: ViewOptions): ConnectionView {
  const state = stateOf(c);
  const status = connectionStatus(state, c.last_update);
  const expiresAt = isoDate(c.expire, opts.timeZone);
  // A consent already ended counts too: the connection stopped syncing and needs a reconnect.
  const expiresSoon = expiresAt !== null && Date.parse(expiresAt) - opts.now <= opts.consentWarningDays * 86_400_000;
  return {
    id: c.id,
    connector: {
      id: c.connector?.id ?? c.id_connector ?? null,
      name: c.connector?.name ?? null,
      uuid: c.connector?.uuid ?? c.connector_uuid ?? null,
    },
    state,
    status,
    // Powens' own text only when it reads as a sentence; otherwise the answer fills in one of
    // ours, in the request's language (localizeViews), after the cache.
    message: plainProse(c.error_message),
    lastUpdate: isoDate(c.last_update, opts.timeZone),
    createdAt: isoDate(c.created, opts.timeZone),
    expiresAt,
    expiresSoon,
    active: c.active ?? true,
    reconnectUrl: status === 'action_needed' || expiresSoon ? `/reconnect/${c.id}` : null,
  };
}

/** Longest Powens text passed on as `message`: a sentence or two, never a page of diagnostics. */
export const MAX_PROSE_LENGTH = 200;

/** States with a sentence of their own in the catalogue (`connection.state.<state>`, checked by the compiler). */
const STATES_WITH_SENTENCE = [...ACTION_NEEDED_STATES, ...TEMPORARY_ERROR_STATES, 'notSupported'] as const;
type StateWithSentence = (typeof STATES_WITH_SENTENCE)[number];
const WITH_SENTENCE: ReadonlySet<string> = new Set(STATES_WITH_SENTENCE);
function hasSentence(state: string): state is StateWithSentence {
  return WITH_SENTENCE.has(state);
}
/** Powens' state names: a text made of them is a code, not prose. */
const STATE_NAMES: ReadonlySet<string> = new Set([...STATES_WITH_SENTENCE, 'validating']);

/**
 * Powens' `error_message` when it is plain prose a person can read, else null. Powens documents it
 * as "an optional message from the institution to guide the user", and it has been seen holding
 * "Redirecting to https://..." with a bank URL and its tokens (docs/POWENS-API.md): so no URL or
 * domain, no markup or code-like token (identifiers, state names, long numbers or hex, braces,
 * `=`), no control or format character, bounded length, and words with letters in them.
 */
export function plainProse(text: string | null | undefined): string | null {
  if (typeof text !== 'string') return null;
  const value = text.trim().replace(/ {2,}/g, ' ');
  if (value.length < 8 || value.length > MAX_PROSE_LENGTH) return null;
  // Controls, format characters (bidi overrides, zero-width), line breaks and tabs.
  if (/[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/u.test(value)) return null;
  // Markup, templates, code and paths.
  if (/[<>{}[\]\\|=_`$#^~*@]/.test(value)) return null;
  // A scheme (`https:`, `javascript:`) or a colon glued to the next word; `www.`; a domain-like word.
  if (/[a-z][a-z0-9+.-]*:\S/i.test(value) || /\bwww\./i.test(value) || /\b[a-z0-9-]+\.(?:[a-z0-9-]+\.)*[a-z]{2,}\b/i.test(value)) return null;
  // Identifiers (camelCase, state names), long numbers and hexadecimal runs.
  const words = value.split(' ');
  if (words.some((w) => STATE_NAMES.has(w.replace(/[^\p{L}]/gu, '')) || /\p{Ll}\p{Lu}/u.test(w) || /\d{5,}/.test(w) || /[0-9a-f]{12,}/i.test(w))) return null;
  // Prose: at least two words made of letters.
  if (words.filter((w) => /\p{L}{2,}/u.test(w)).length < 2) return null;
  return value;
}

/** Our sentence for a connection whose Powens text is not fit to show: by state, else by status; none for ok and syncing. */
export function connectionMessage(state: string | null, status: ConnectionStatus, lang: Lang): string | null {
  if (state !== null && hasSentence(state)) return t(lang, `connection.state.${state}`);
  if (status === 'action_needed' || status === 'temporary_error' || status === 'unknown') return t(lang, `connection.status.${status}`);
  return null;
}

/**
 * The views with each null `message` of a connection that calls for one filled in `lang`. The
 * cache holds them language-neutral (`message` is Powens' prose or null), so this runs after it,
 * on every answer. A view is never changed in place: a copy takes the message.
 */
export function localizeViews(views: readonly ConnectionView[], lang: Lang): ConnectionView[] {
  return views.map((v) => {
    if (v.message !== null) return v;
    const message = connectionMessage(v.state, v.status, lang);
    return message === null ? v : { ...v, message };
  });
}
