import { Cluster } from 'ioredis';
import type { RedisClient, StoreErrorObserver } from './redis.js';

/** What a listener waits on: the next message of its channel, or a time limit. */
export interface Wakeup {
  /** Resolves at the next message since the previous call (at once if one came meanwhile), or after `ms`. */
  next(ms: number): Promise<void>;
  /**
   * Whether no message can have been missed: the subscription is in place on a connection that
   * has not dropped since. Redis delivers every message to a connected subscriber; a dropped
   * connection (its channels are subscribed again once it is back) may have missed some.
   */
  reliable(): boolean;
  /** Stops listening; the channel is unsubscribed when nobody in this process listens to it any more. */
  stop(): void;
}

/** A Wakeup that only waits: what a listener gets when Redis pub/sub cannot be had. */
export function timerOnly(): Wakeup {
  return { next: (ms) => new Promise((resolve) => setTimeout(resolve, ms)), reliable: () => false, stop: () => undefined };
}

/**
 * Wake-ups through Redis pub/sub, so that a request waiting for another instance's work is told
 * when it is done instead of asking Redis every few milliseconds.
 *
 * ioredis needs a connection of its own in subscribe mode: one per app (so one per process in
 * production), duplicated from the app's client, so it has the same fail-fast options
 * (storage/redis.ts: no offline queue, command timeout, reconnection forever; its channels are
 * subscribed again after a reconnection) and the same kind (Redis, Sentinel or Cluster). It is
 * connected on first use and disconnected by `close` (the app's `close`, before its client
 * quits). A channel is subscribed while someone in this process listens to it.
 *
 * Messages can be lost: published while the subscriber was reconnecting, or before a SUBSCRIBE
 * took effect. A listener must therefore also look for itself, slowly (Wakeup.next's `ms`).
 * Classic pub/sub, not sharded (SSUBSCRIBE): on a Redis Cluster each message crosses the cluster
 * bus to every node; one message per fill is small next to the commands it saves.
 */
export class Wakeups {
  private subscriber: RedisClient | undefined;
  private connecting: Promise<void> | undefined;
  private closed = false;
  /** Bumped each time the subscriber connection closes: a subscription made in an earlier life may have missed messages. */
  private life = 0;
  /** Per channel: this process's listeners, and the life in which its subscription was confirmed (undefined: it failed). */
  private readonly channels = new Map<string, { listeners: Set<() => void>; subscribed: Promise<number | undefined> }>();

  constructor(
    private readonly redis: RedisClient,
    private readonly onStoreError?: StoreErrorObserver,
  ) {}

  /** Listens to `channel`; resolves once the subscription is in place (or could not be: then only the timer wakes). */
  async listen(channel: string): Promise<Wakeup> {
    if (this.closed) return timerOnly();
    let pending = false;
    let wake: (() => void) | undefined;
    const onMessage = (): void => {
      if (wake === undefined) pending = true;
      else wake();
    };
    let entry = this.channels.get(channel);
    if (entry === undefined) {
      const created = { listeners: new Set([onMessage]), subscribed: this.subscribe(channel) };
      this.channels.set(channel, created);
      entry = created;
    } else {
      entry.listeners.add(onMessage);
    }
    const own = entry;
    const subscribedIn = await own.subscribed;
    return {
      next: (ms) => {
        if (pending) {
          pending = false;
          return Promise.resolve();
        }
        return new Promise<void>((resolve) => {
          const timer = setTimeout(done, ms);
          function done(): void {
            clearTimeout(timer);
            wake = undefined;
            resolve();
          }
          wake = done;
        });
      },
      reliable: () => subscribedIn !== undefined && subscribedIn === this.life && this.subscriber?.status === 'ready',
      stop: () => {
        own.listeners.delete(onMessage);
        if (own.listeners.size > 0 || this.channels.get(channel) !== own) return;
        this.channels.delete(channel);
        // Commands on one connection run in order: a SUBSCRIBE sent after this one wins.
        void this.subscriber?.unsubscribe(channel).catch(() => undefined);
      },
    };
  }

  /** Disconnects the subscriber; listeners from then on only poll. */
  close(): void {
    this.closed = true;
    this.subscriber?.disconnect();
  }

  private async subscribe(channel: string): Promise<number | undefined> {
    const subscriber = await this.connected();
    if (subscriber === undefined) return undefined;
    const life = this.life;
    try {
      await subscriber.subscribe(channel);
      return life;
    } catch (err: unknown) {
      this.onStoreError?.(err);
      return undefined;
    }
  }

  /** The subscriber connection once ready, or undefined when it is not (the listener then polls). */
  private async connected(): Promise<RedisClient | undefined> {
    if (this.closed) return undefined;
    if (this.subscriber === undefined) {
      let subscriber: RedisClient;
      try {
        // Not ioredis' own resubscription after a reconnection: it leaves its promise unhandled
        // when the connection drops again meanwhile (an unhandled rejection); done on 'ready' below.
        // A Cluster resubscribes through its own subscriber node, and handles it.
        subscriber = this.redis instanceof Cluster ? this.redis.duplicate() : this.redis.duplicate({ enableAutoPipelining: false, autoResubscribe: false });
      } catch (err: unknown) {
        this.onStoreError?.(err);
        return undefined;
      }
      this.subscriber = subscriber;
      // The app's client reports Redis outages (logs, redis_errors_total); this one only polls meanwhile.
      subscriber.on('error', () => undefined);
      // A listener asleep in the trust that no message can be missed must hear that one may
      // have been: woken, it looks, and from then on looks on its own every so often.
      subscriber.on('close', () => {
        this.life += 1;
        for (const { listeners } of this.channels.values()) for (const listener of listeners) listener();
      });
      subscriber.on('ready', () => {
        const channels = [...this.channels.keys()];
        if (this.life > 0 && channels.length > 0 && !(subscriber instanceof Cluster)) {
          subscriber.subscribe(...channels).catch((err: unknown) => this.onStoreError?.(err));
        }
      });
      subscriber.on('message', (channel: string) => {
        for (const listener of this.channels.get(channel)?.listeners ?? []) listener();
      });
      this.connecting = subscriber.status === 'wait' ? subscriber.connect().catch(() => undefined) : Promise.resolve();
    }
    await this.connecting;
    return this.subscriber.status === 'ready' ? this.subscriber : undefined;
  }
}
