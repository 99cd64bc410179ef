import type { EmulatorStore } from './store.js';
import type { KnobRegistry } from './knobs.js';

export interface EmulatorClient {
  clientId: string;
  clientSecret: string;
  /** White-listed redirect URIs; an entry ending in `*` is a prefix match, otherwise exact. */
  redirectUris: string[];
}

/** What the routers of the emulator share. */
export interface EmulatorContext {
  store: EmulatorStore;
  registry: KnobRegistry;
  clients: readonly EmulatorClient[];
  domain: string;
  now: () => Date;
  /** Path prefix of the public URL (`''` at the root), put in front of the links the pages hold. */
  basePath(): string;
  publicUrl(): string | undefined;
}

export function findClient(ctx: EmulatorContext, clientId: string): EmulatorClient | undefined {
  return ctx.clients.find((c) => c.clientId === clientId);
}
