import type { Logger } from '../logging.js';
import type { Keys } from '../storage/keys.js';
import { guard, type RedisClient, type StoreErrorObserver } from '../storage/redis.js';
import type { Connector, PowensClient } from './client.js';

export interface ConnectorsAnswer {
  connectors: Connector[];
}

export interface ConnectorsCatalogueDeps {
  redis: RedisClient;
  keys: Keys;
  powens: Pick<PowensClient, 'listConnectors'>;
  /** The API host the list belongs to: part of the key, so a new POWENS_DOMAIN never reads another's list. */
  domain: string;
  /** CONNECTORS_CACHE_TTL_SECONDS; 0 asks Powens every time. */
  ttlSeconds: number;
  logger: Logger;
  onStoreError?: StoreErrorObserver;
}

/**
 * The domain's connectors for an app's own bank picker (`GET /connectors`). The list is the same
 * for every user and changes rarely, so it is cached in Redis, shared by every instance, for
 * CONNECTORS_CACHE_TTL_SECONDS; within a process, concurrent misses share one Powens call. The
 * cached value is the answer's JSON text, sent as is. It holds nothing about any user.
 */
export class ConnectorsCatalogue {
  private inflight: Promise<string> | undefined;

  constructor(private readonly deps: ConnectorsCatalogueDeps) {}

  /** The JSON text of a ConnectorsAnswer. */
  async json(): Promise<string> {
    const { redis, keys, ttlSeconds, domain, onStoreError } = this.deps;
    if (ttlSeconds > 0) {
      const cached = await guard(redis.get(keys.connectors(domain)), onStoreError, 'connectors_read');
      if (cached !== null && cached.startsWith('{"connectors":[')) return cached;
    }
    if (this.inflight === undefined) {
      const fill = this.fill();
      this.inflight = fill;
      const forget = (): void => {
        if (this.inflight === fill) this.inflight = undefined;
      };
      fill.then(forget, forget);
    }
    return this.inflight;
  }

  private async fill(): Promise<string> {
    const { redis, keys, ttlSeconds, domain, logger, onStoreError } = this.deps;
    const { connectors, skipped } = await this.deps.powens.listConnectors();
    if (skipped > 0) logger.warn({ skipped }, 'Powens listed connectors that are hidden or lack an id, uuid or name; left out');
    const json = JSON.stringify({ connectors } satisfies ConnectorsAnswer);
    if (ttlSeconds > 0) {
      // The answer is good: a failed write is counted (guard), not thrown; only the next
      // request pays a Powens call again.
      await guard(redis.set(keys.connectors(domain), json, 'EX', ttlSeconds), onStoreError, 'connectors_write').catch(() => undefined);
    }
    return json;
  }
}
