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
const ACTION_NEEDED = new Set<string>(ACTION_NEEDED_STATES);
const TEMPORARY = new Set<string>(TEMPORARY_ERROR_STATES);

/** Powens' `state` (null when the last sync went well) to the status the JSON API serves (README, "JSON API"). */
export function connectionStatus(state: string | null | undefined, lastUpdate: string | null | undefined): ConnectionStatus {
  if (state === null || state === undefined) return lastUpdate ? 'ok' : 'syncing';
  if (state === 'validating') return 'syncing';
  if (ACTION_NEEDED.has(state)) return 'action_needed';
  if (TEMPORARY.has(state)) return 'temporary_error';
  return 'unknown';
}

/** Powens dates are `YYYY-MM-DD HH:MM:SS` in UTC without a zone; ISO 8601 is what we serve. */
export function isoDate(value: string | null | undefined): string | null {
  if (value === null || value === undefined || value === '') return null;
  const m = /^(\d{4}-\d{2}-\d{2})[ T](\d{2}:\d{2}:\d{2})(?:\.\d+)?(Z|[+-]\d{2}:?\d{2})?$/.exec(value);
  if (m !== null) {
    const d = new Date(`${m[1]}T${m[2]}${m[3] ?? 'Z'}`);
    return Number.isNaN(d.getTime()) ? null : d.toISOString().replace('.000Z', 'Z');
  }
  if (/^\d{4}-\d{2}-\d{2}$/.test(value)) return `${value}T00:00:00Z`;
  return null;
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
  active: boolean;
  reconnectUrl: string | null;
}

export function toConnectionView(c: PowensConnection): ConnectionView {
  // `error` is the legacy twin of `state` (older API versions send only it). An answer that has only
  // `error` would otherwise show a connection that needs the user as ok.
  const state = c.state !== undefined ? c.state : (c.error ?? null);
  const status = connectionStatus(state, c.last_update);
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
    lastUpdate: isoDate(c.last_update),
    createdAt: isoDate(c.created),
    expiresAt: isoDate(c.expire),
    active: c.active ?? true,
    reconnectUrl: status === 'action_needed' ? `/reconnect/${c.id}` : null,
  };
}
