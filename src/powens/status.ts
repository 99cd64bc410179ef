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
    message: c.error_message ?? null,
    lastUpdate: isoDate(c.last_update, opts.timeZone),
    createdAt: isoDate(c.created, opts.timeZone),
    expiresAt,
    expiresSoon,
    active: c.active ?? true,
    reconnectUrl: status === 'action_needed' || expiresSoon ? `/reconnect/${c.id}` : null,
  };
}
