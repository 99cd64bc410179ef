/**
 * Types the emulator's modules share. They live here, not in app.ts, so that the routers
 * (control.ts, api.ts, webview.ts) and app.ts, which builds them, do not import each other.
 */
import type { EmulatorEndpoint, FailOptions, KnobRegistry, TimesOptions } from './knobs.js';
import type { ConnectionFieldPatch, EmulatorStore } from './store.js';
import type { BuiltWebhookEvent, SendWebhookOptions, WebhookDelivery, WebhookSubject } from './webhooks.js';

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

export interface AddUserOptions {
  connections?: { connectorId?: number; state?: string | null; errorMessage?: string | null; expire?: Date | null }[];
}

export interface AddedUser {
  userId: number;
  /** A permanent token of the new user. */
  token: string;
  connectionIds: number[];
}

export interface EmulatorKnobs {
  /** Answers `status` with `body` (default a Powens error JSON), `times` calls (default until reset). */
  fail(endpoint: EmulatorEndpoint, options: FailOptions): void;
  /** Never answers (until the client or the server closes the socket). */
  hang(endpoint: EmulatorEndpoint, options?: TimesOptions): void;
  /** Waits `ms` before handling the call. */
  delay(endpoint: EmulatorEndpoint, ms: number, options?: TimesOptions): void;
  /** Answers 200 `application/json` with a truncated body. */
  malformed(endpoint: EmulatorEndpoint, options?: TimesOptions): void;
  /** Sets a connection's `state` (and `error_message`, default null). Throws for an unknown id. */
  setConnectionState(connectionId: number, state: string | null, errorMessage?: string | null): void;
  /** Sets any fields of a connection (dates as Date or raw string). Throws for an unknown id. */
  setConnectionField(connectionId: number, fields: ConnectionFieldPatch): void;
  /** Makes a connection's consent (`expire`) end `days` from now (negative: already ended), or removes it (null). */
  setConsentExpiry(connectionId: number, days: number | null): void;
  /** Creates a Powens user with a permanent token and connections (default one Demo Bank connection in state null). */
  addUser(options?: AddUserOptions): AddedUser;
  /** Clears the knobs and the call counters, not the data. */
  reset(): void;
  /** Clears the knobs, the call counters and all the data. */
  resetAll(): void;
  /** Number of API calls received by an endpoint, or by all of them. */
  calls(endpoint?: EmulatorEndpoint): number;
  /**
   * The W3C `traceparent` header of the latest API calls (null when the call had none), oldest
   * first, at most 1000: what a tracing client sent on to Powens.
   */
  traceparents(endpoint?: EmulatorEndpoint): { endpoint: EmulatorEndpoint; traceparent: string | null }[];
  /**
   * POSTs a webhook to `url`, the URL registered for its event (`webhookUrl(base, event)`), as
   * Powens would (an `id_webhook_data` added to an object payload that has none), signed with
   * `hmacSecret` over the URL's path and/or with `Authorization: Bearer <bearer>`. Resolves
   * with the answer.
   */
  sendWebhook(url: string, payload: unknown, options?: SendWebhookOptions): Promise<WebhookDelivery>;
  /** A payload of `event` in Powens' shape, built from the emulator's data. */
  webhookPayload(event: BuiltWebhookEvent, subject: WebhookSubject): Record<string, unknown>;
}
