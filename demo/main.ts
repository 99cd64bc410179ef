import { startEmulator } from '../emulator/index.js';
import { loadConfig, formatProblems } from '../src/config.js';
import { start } from '../src/main.js';
import { createLogger } from '../src/logging.js';
import { connectRedis, createRedis, type RedisClient } from '../src/storage/redis.js';
import { randomBytes } from 'node:crypto';

/**
 * `npm run demo`: the whole flow on one machine. Starts the Powens emulator, then the service
 * in demo mode against it, with Redis when REDIS_URL is set and an in-memory store otherwise.
 */
async function demo(): Promise<void> {
  const env = { ...process.env };
  if (env.NODE_ENV === 'production') {
    process.stderr.write('The demo never runs with NODE_ENV=production (it uses AUTH_MODE=demo and may keep data in memory).\n');
    process.exit(1);
  }
  const port = Number(env.PORT ?? 3000);
  const publicUrl = env.PUBLIC_URL ?? `http://localhost:${port}`;
  const clientId = 'demo-client';
  const clientSecret = randomBytes(24).toString('base64url');
  const emulator = await startEmulator({
    port: Number(env.EMULATOR_PORT ?? 4010),
    host: '127.0.0.1',
    clients: [{ clientId, clientSecret, redirectUris: [`${publicUrl}/callback`] }],
  });
  const webviewUrl = emulator.url.replace('127.0.0.1', 'localhost');
  emulator.emulator.setPublicUrl(webviewUrl);

  const result = loadConfig({
    ...env,
    AUTH_MODE: 'demo',
    PORT: String(port),
    PUBLIC_URL: publicUrl,
    POWENS_DOMAIN: env.POWENS_DOMAIN ?? 'demo-sandbox.biapi.pro',
    POWENS_CLIENT_ID: clientId,
    POWENS_CLIENT_SECRET: clientSecret,
    POWENS_API_URL: emulator.apiUrl,
    POWENS_WEBVIEW_URL: webviewUrl,
    HOST: env.HOST ?? '127.0.0.1',
  });
  if (!result.ok) {
    process.stderr.write(`${formatProblems(result.problems)}\n`);
    process.exit(1);
  }
  const config = result.config;
  if (config.redis.url !== undefined && config.generated.includes('TOKEN_ENCRYPTION_KEYS')) {
    // A random key per run would leave tokens of earlier runs in Redis that no longer open.
    process.stderr.write(
      'TOKEN_ENCRYPTION_KEYS: set it too when the demo uses REDIS_URL, so tokens stored by an earlier run still open (e.g. k1:$(openssl rand -base64 32))\n',
    );
    process.exit(1);
  }
  const logger = createLogger(env.LOG_LEVEL ?? 'warn');

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
  process.stdout.write(`Powens emulator: ${webviewUrl}\n`);
  process.stdout.write(`Open ${publicUrl} and sign in with any user id.\n`);
}

demo().catch((err: unknown) => {
  process.stderr.write(`demo failed to start: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
