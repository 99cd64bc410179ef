import { withQuery } from '../http/return-to.js';
import type { FlowKind } from '../storage/flows.js';

/** Where a flow starts: the "try again" of its error pages, with the same way back. */
export function startPath(kind: FlowKind, returnTo: string, connectionId: number | null): string {
  const base = kind === 'reconnect' ? `/reconnect/${connectionId ?? ''}` : `/${kind}`;
  return returnTo === '/' ? base : withQuery(base, 'return_to', returnTo);
}
