import { realpathSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { createApp } from './app.js';
import { describeDotEnv, formatProblems, loadConfig, loadDotEnv, type Config, type DotEnvReport } from './config.js';
import { createLogger, safeError, type Logger } from './logging.js';
import { Metrics } from './metrics.js';
import { PowensClient } from './powens/client.js';
import { connectRedis, createRedis, describeRedis, type RedisClient } from './storage/redis.js';
import { startServer } from './server.js';

/**
 * Start-up: config (every problem listed, exit 1, no stack), Redis (clear error if it cannot be
 * reached), the app, then signals. `start` is shared with the demo launcher.
 */
export async function start(config: Config, redis: RedisClient, logger: Logger): Promise<void> {
  // Before anything serves: off (the API's no-ops) unless the OTEL_* variables turn it on. The
  // SDK and its exporters are loaded only then: left out, the process starts some 7 MB smaller
  // (RSS; 2.7 MB of heap), measured with `node --expose-gc` after two collections.
  const tracing = config.tracing.enabled ? (await import('./ops/tracing.js')).startTracing(config.tracing, logger) : undefined;
  const metrics = new Metrics({ commit: config.gitCommit });
  let lastRedisLog = 0;
  redis.on('error', (err: unknown) => {
    metrics.redisErrors.inc({ kind: 'connection' });
    // ioredis emits on every reconnect attempt; one line every 10 s is enough to be seen.
    if (Date.now() - lastRedisLog > 10_000) {
      lastRedisLog = Date.now();
      logger.error({ err: safeError(err), redis: describeRedis(config.redis) }, 'Redis unavailable');
    }
  });
  // A clean close (Redis stopped or restarted) emits no 'error': say so once per loss, so the
  // 503s that follow have a cause in the log. ioredis reconnects by itself ('ready' again).
  let connected = true;
  let stopping = false;
  redis.on('close', () => {
    if (!connected || stopping) return;
    connected = false;
    metrics.redisErrors.inc({ kind: 'connection' });
    logger.warn({ redis: describeRedis(config.redis) }, 'Redis connection lost: requests that need it answer 503 until it is back');
  });
  redis.on('ready', () => {
    connected = true;
    logger.info({ redis: describeRedis(config.redis) }, 'Redis ready');
  });
  // Connected before these listeners (start-up waits for it): say where, once.
  if (redis.status === 'ready') logger.info({ redis: describeRedis(config.redis) }, 'Redis ready');

  const powens = new PowensClient(config.powens, metrics.observePowens, logger, metrics.observePools);
  const built = createApp({ config, redis, powens, logger, metrics });
  const running = await startServer(built.app, { config, lifecycle: built.lifecycle, logger });
  logger.info({ url: config.publicUrl.href, listening: running.url }, 'powens-connect-bff ready');

  const stop = (signal: string): void => {
    logger.info({ signal }, 'signal received');
    // The last resort: whatever happens below, the process is gone within 10 s of the signal
    // (orchestrators SIGKILL soon after). unref: it never keeps the process alive by itself.
    // The delay and the drain take at most SHUTDOWN_DELAY_MS + SHUTDOWN_TIMEOUT_MS (<= 9 s in
    // all, a rule of the configuration) plus the 500 ms and 300 ms below.
    setTimeout(() => {
      logger.error('shutdown did not finish in time: exiting');
      process.exit(1);
    }, 9_900).unref();
    void running
      .shutdown()
      .then(async () => {
        // Webhooks are answered before their work runs, and Powens does not resend an answered
        // one: let the queued work (a few Redis writes) finish before Redis goes. Background work
        // of first connections (a token write's fate, a Powens user to delete) gets its last
        // attempt now; what it cannot finish is logged with its Powens user id.
        const [, unfinished] = await Promise.all([
          Promise.race([built.webhooks.idle(), new Promise((r) => setTimeout(r, 500).unref())]),
          built.connections.drain(500),
        ]);
        if (unfinished > 0) logger.error({ unfinished }, 'stopping with background work still running: see the lines that name it');
        powens.close();
        built.close();
        stopping = true;
        // QUIT lets Redis close the connection cleanly; a Redis that does not answer must not
        // hold the exit up (a paused Redis would only answer after the command timeout).
        // Meanwhile, within the same 300 ms, the spans of the last requests are exported (the
        // batch processor holds up to 5 s of them).
        await Promise.all([
          Promise.race([redis.quit().catch(() => undefined), new Promise((r) => setTimeout(r, 300).unref())]),
          tracing?.shutdown(300).catch(() => undefined),
        ]);
        redis.disconnect();
        logger.info('stopped');
        process.exit(0);
      })
      .catch((err: unknown) => {
        logger.error({ err: safeError(err) }, 'shutdown failed');
        process.exit(1);
      });
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
  process.on('unhandledRejection', (reason: unknown) => {
    logger.error({ err: safeError(reason) }, 'unhandled promise rejection');
  });
}

async function main(): Promise<void> {
  let dotEnv: DotEnvReport | undefined;
  try {
    dotEnv = loadDotEnv();
  } catch (err: unknown) {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  }
  const result = loadConfig(process.env);
  if (!result.ok) {
    if (dotEnv !== undefined) process.stderr.write(`${describeDotEnv(dotEnv)}\n`);
    process.stderr.write(`${formatProblems(result.problems)}\n`);
    process.exit(1);
  }
  const config = result.config;
  const logger = createLogger(config.logLevel);
  if (dotEnv !== undefined) logger.info({ file: dotEnv.path, loaded: dotEnv.loaded.length, kept: dotEnv.kept }, describeDotEnv(dotEnv));
  for (const name of config.generated) {
    logger.warn({ variable: name }, `${name} is not set: using a random value for this process only (development)`);
  }
  if (config.redis.url === undefined) {
    process.stderr.write('REDIS_URL: is required to start the service (the demo, `npm run demo`, can run without it)\n');
    process.exit(1);
  }
  const redis = createRedis(config.redis);
  try {
    await connectRedis(redis, config.redis);
  } catch (err: unknown) {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    redis.disconnect();
    process.exit(1);
  }
  await start(config, redis, logger);
}

/** Whether this module is the script node was started with (paths compared as real paths). */
function isEntryPoint(): boolean {
  const script = process.argv[1];
  if (script === undefined) return false;
  try {
    return import.meta.url === pathToFileURL(realpathSync(script)).href;
  } catch {
    return false;
  }
}

// Run only as the entry point, so tests and the demo can import `start` without side effects.
if (isEntryPoint()) {
  main().catch((err: unknown) => {
    process.stderr.write(`start-up failed: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
