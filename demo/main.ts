/**
 * `npm run demo`: the whole flow on one machine. Starts the Powens emulator, then the service
 * in demo mode against it, with Redis when REDIS_URL is set and an in-memory store otherwise.
 * Configuration comes from the same schema as the service's (loadDemoConfig: the emulator's
 * client and URLs, demo sign-in, every problem listed at once).
 */
import { startEmulator } from '../emulator/index.js';
import { describeDotEnv, loadDemoConfig, loadDotEnv } from '../src/config.js';
import { createLogger } from '../src/logging.js';
import { start } from '../src/main.js';
import { connectRedis, createRedis, type RedisClient } from '../src/storage/redis.js';

async function demo(): Promise<void> {
  // .env of the working directory, as `npm start` reads it (variables already set win).
  const dotEnv = loadDotEnv();
  if (dotEnv !== undefined) process.stdout.write(`${describeDotEnv(dotEnv)}\n`);
  const result = loadDemoConfig(process.env);
  if (!result.ok) {
    // One problem per line, each naming its variable.
    process.stderr.write(`${result.problems.join('\n')}\n`);
    process.exit(1);
  }
  const { service: config, emulator: emulatorOptions } = result.config;
  await startEmulator(emulatorOptions);
  const logger = createLogger(config.logLevel);

  let redis: RedisClient;
  if (config.redis.url !== undefined) {
    redis = createRedis(config.redis);
    await connectRedis(redis, config.redis);
    process.stdout.write(`Store: Redis at ${config.redis.url.replace(/\/\/[^@]*@/, '//')}\n`);
  } else {
    // ioredis-mock speaks the same commands in memory, so the demo runs the very code paths
    // that production runs against Redis. It is a development dependency: never in the image.
    const { default: RedisMock } = await import('ioredis-mock');
    redis = new RedisMock() as unknown as RedisClient;
    process.stdout.write('Store: in memory (nothing is kept after exit; set REDIS_URL to use Redis)\n');
  }
  await start(config, redis, logger);
  process.stdout.write(`Powens emulator: ${emulatorOptions.publicUrl}\n`);
  process.stdout.write(`Open ${config.publicUrl.href.replace(/\/$/, '')} and sign in with any user id.\n`);
}

demo().catch((err: unknown) => {
  process.stderr.write(`demo failed to start: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
