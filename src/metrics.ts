import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/**
 * Prometheus metrics. One registry per app (tests build many apps in one process), with the
 * default process metrics.
 */
export class Metrics {
  readonly registry = new Registry();
  readonly httpDuration: Histogram<'method' | 'route' | 'status'>;
  readonly flowOutcomes: Counter<'flow' | 'result'>;
  readonly powensDuration: Histogram<'endpoint' | 'outcome'>;
  readonly powensErrors: Counter<'endpoint' | 'code'>;
  readonly redisErrors: Counter<'kind'>;
  readonly webhookDeliveries: Counter<'event' | 'outcome'>;
  readonly webhookQueueDepth: Gauge;
  readonly webhookBodiesInFlight: Gauge;
  readonly rateLimitRejections: Counter<'limiter'>;
  readonly powensUsersCreated: Counter<'reason'>;
  readonly powensUsersDeleted: Counter<'reason' | 'outcome'>;
  readonly tokensDropped: Counter<'reason'>;
  // Declared only, for deploy/prometheus/alerts.yml and the Grafana dashboard: the branches that
  // set them (obs, cache) declare the same names, labels and help.
  readonly powensRetries: Counter<'endpoint'>;
  readonly redisCommandDuration: Histogram<'operation'>;
  readonly redisUp: Gauge;
  readonly cacheEvents: Counter<'event'>;
  readonly httpInFlight: Gauge;
  readonly serviceReady: Gauge;
  readonly buildInfo: Gauge<'version' | 'commit' | 'node'>;
  readonly powensInFlight: Gauge<'pool'>;
  readonly powensPoolRejections: Counter<'pool'>;

  constructor(options: { defaultMetrics?: boolean } = {}) {
    if (options.defaultMetrics !== false) collectDefaultMetrics({ register: this.registry });
    this.httpDuration = new Histogram({
      name: 'http_request_duration_seconds',
      help: 'HTTP requests by route template, method and status',
      labelNames: ['method', 'route', 'status'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [this.registry],
    });
    this.flowOutcomes = new Counter({
      name: 'powens_flow_outcomes_total',
      help: 'Browser flows ended at /callback, by flow and result code (ok or an error code)',
      labelNames: ['flow', 'result'],
      registers: [this.registry],
    });
    this.powensDuration = new Histogram({
      name: 'powens_request_duration_seconds',
      help: 'Calls to the Powens API by endpoint and outcome',
      labelNames: ['endpoint', 'outcome'],
      buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [this.registry],
    });
    this.powensErrors = new Counter({
      name: 'powens_request_errors_total',
      help: 'Failed calls to the Powens API by endpoint and error code',
      labelNames: ['endpoint', 'code'],
      registers: [this.registry],
    });
    this.redisErrors = new Counter({
      name: 'redis_errors_total',
      help: 'Redis errors: kind="connection" for connection losses and failed reconnects, kind="command" for storage operations that failed',
      labelNames: ['kind'],
      registers: [this.registry],
    });
    this.webhookDeliveries = new Counter({
      name: 'webhook_deliveries_total',
      help: 'Webhook deliveries by event (a handled event or "other") and outcome: accepted, duplicate, ignored, unauthorized, rejected (other 4xx), throttled (429/503), failed (work failed after the answer; also counted as accepted)',
      labelNames: ['event', 'outcome'],
      registers: [this.registry],
    });
    this.webhookQueueDepth = new Gauge({
      name: 'webhook_queue_depth',
      help: 'Webhook work queued or running in this process',
      registers: [this.registry],
    });
    this.webhookBodiesInFlight = new Gauge({
      name: 'webhook_bodies_in_flight',
      help: 'Webhook bodies being read or held in this process (at most WEBHOOK_MAX_BODIES_IN_FLIGHT)',
      registers: [this.registry],
    });
    this.rateLimitRejections = new Counter({
      name: 'rate_limit_rejections_total',
      help: 'Requests refused by a rate limit (429), by limiter: ip, user, webhook_ip',
      labelNames: ['limiter'],
      registers: [this.registry],
    });
    this.powensUsersCreated = new Counter({
      name: 'powens_users_created_total',
      help: 'Powens users the service came to hold a token of: reason="exchange" (a callback code exchanged) or "init" (POST /auth/init)',
      labelNames: ['reason'],
      registers: [this.registry],
    });
    this.powensUsersDeleted = new Counter({
      name: 'powens_users_deleted_total',
      help: 'Attempts to delete a Powens user, by reason (refused_callback, link_race, store_failed, unconfirmed_write, unlink, init_race) and outcome (ok, failed)',
      labelNames: ['reason', 'outcome'],
      registers: [this.registry],
    });
    this.tokensDropped = new Counter({
      name: 'powens_tokens_dropped_total',
      help: 'Stored Powens tokens dropped, by reason (refused_by_powens, user_deleted_webhook, unlink)',
      labelNames: ['reason'],
      registers: [this.registry],
    });
    this.powensRetries = new Counter({
      name: 'powens_request_retries_total',
      help: 'Attempts of a Powens call made again after a failed one (each retry counted once), by endpoint',
      labelNames: ['endpoint'],
      registers: [this.registry],
    });
    this.redisCommandDuration = new Histogram({
      name: 'redis_command_duration_seconds',
      help: 'Storage operations on Redis by operation (a fixed name per use: session_get, token_read, flow_take, ...), failed ones included',
      labelNames: ['operation'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
      registers: [this.registry],
    });
    this.redisUp = new Gauge({
      name: 'redis_up',
      help: '1 while the Redis connection is ready for commands, 0 while it is not',
      registers: [this.registry],
    });
    this.cacheEvents = new Counter({
      name: 'connections_cache_events_total',
      help: 'Connections cache lookups by event: hit, miss, shared_wait (waited for another fill), fill_failure, negative_hit (a user known to have no link)',
      labelNames: ['event'],
      registers: [this.registry],
    });
    this.httpInFlight = new Gauge({
      name: 'http_requests_in_flight',
      help: 'HTTP requests received and not yet answered (or abandoned) in this process',
      registers: [this.registry],
    });
    this.serviceReady = new Gauge({
      name: 'service_ready',
      help: '1 when the last /readyz answered 200, 0 when it answered 503',
      registers: [this.registry],
    });
    this.buildInfo = new Gauge({
      name: 'build_info',
      help: 'Always 1: the version (package.json), the commit (GIT_COMMIT, else "unknown") and the Node.js version running',
      labelNames: ['version', 'commit', 'node'],
      registers: [this.registry],
    });
    this.powensInFlight = new Gauge({
      name: 'powens_requests_in_flight',
      help: 'Calls to the Powens API under way, by pool (exchange, codes, lists, deletes)',
      labelNames: ['pool'],
      registers: [this.registry],
    });
    this.powensPoolRejections = new Counter({
      name: 'powens_pool_rejections_total',
      help: "Calls to the Powens API refused because their pool's queue was full, by pool",
      labelNames: ['pool'],
      registers: [this.registry],
    });
  }

  /** A storage operation failed at the Redis boundary (storage/redis.ts guard/storeError). */
  observeStoreError = (): void => {
    this.redisErrors.inc({ kind: 'command' });
  };

  /** A Powens call ended (powens/client.ts reports each one: endpoint name, duration, ok or an error code). */
  observePowens = (endpoint: string, seconds: number, outcome: string): void => {
    this.powensDuration.observe({ endpoint, outcome: outcome === 'ok' ? 'ok' : 'error' }, seconds);
    if (outcome !== 'ok') this.powensErrors.inc({ endpoint, code: outcome });
  };
}
