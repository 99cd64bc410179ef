/**
 * `npm run rotate-keys`: re-seals every stored token under the first key of
 * TOKEN_ENCRYPTION_KEYS (see src/storage/rotate.ts and docs/SECURITY.md, "Key rotation").
 * Needs REDIS_URL (and the other REDIS_* variables the service uses), REDIS_PREFIX and
 * TOKEN_ENCRYPTION_KEYS; no POWENS_* variable. Safe while the service runs; Ctrl-C stops after
 * the batch in progress, and running it again continues where it stopped.
 *
 * Reads `.env` of the working directory as the service does (variables already set win).
 *
 * Options: --allow-empty  finding no token at all is expected (a new deployment): exit 0.
 *
 * Exit codes: 0 every token is under the first key; 1 configuration or Redis problem;
 * 2 finished, but some values did not open (their key ids are printed); 3 stopped before the end;
 * 4 no token found at all (without --allow-empty): most likely a REDIS_PREFIX or database that is
 * not the service's, and "nothing failed" must not pass for "the old key can be retired".
 */
import { parseArgs } from 'node:util';
import { loadStorageConfig } from '../config.js';
import { createKeys } from '../storage/keys.js';
import { connectRedis, createRedis, describeRedis } from '../storage/redis.js';
import { rotateTokenKeys, type RotationReport } from '../storage/rotate.js';
import { line, scriptEnvironment } from './environment.js';

function summary(r: RotationReport): string {
  return [
    `  scanned           ${r.scanned}`,
    `  resealed          ${r.resealed}`,
    `  already current   ${r.alreadyCurrent}`,
    `  failed to open    ${r.failedToOpen}${r.failedKeyIds.length > 0 ? ` (key ids: ${r.failedKeyIds.join(', ')})` : ''}`,
    `  changed meanwhile ${r.changedMeanwhile}`,
  ].join('\n');
}

async function main(): Promise<number> {
  let allowEmpty: boolean;
  try {
    allowEmpty = parseArgs({ options: { 'allow-empty': { type: 'boolean', default: false } } }).values['allow-empty'];
  } catch (err: unknown) {
    line(`${err instanceof Error ? err.message : String(err)} (the one option is --allow-empty)`);
    return 1;
  }
  const result = scriptEnvironment(loadStorageConfig);
  if (result === undefined) return 1;
  const { redis: redisConfig, tokenKeys } = result.config;
  const first = tokenKeys[0];
  if (first === undefined) return 1;
  // Slower commands than the service's fail-fast default are fine for a batch job.
  const redis = createRedis({ ...redisConfig, commandTimeoutMs: Math.max(redisConfig.commandTimeoutMs, 10_000) });
  try {
    await connectRedis(redis, redisConfig);
  } catch (err: unknown) {
    line(err instanceof Error ? err.message : String(err));
    redis.disconnect();
    return 1;
  }
  redis.on('error', () => undefined);

  const stop = new AbortController();
  const onSignal = (): void => {
    line('stopping after the batch in progress (run again to continue)');
    stop.abort();
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  line(`re-sealing tokens under key "${first.id}" in ${describeRedis(redisConfig)}, prefix ${redisConfig.prefix}`);
  let lastReport = Date.now();
  try {
    const report = await rotateTokenKeys({
      redis,
      keys: createKeys(redisConfig.prefix),
      tokenKeys,
      signal: stop.signal,
      onProgress: (r) => {
        if (Date.now() - lastReport < 2000) return;
        lastReport = Date.now();
        line(`  ... scanned ${r.scanned}, resealed ${r.resealed}`);
      },
    });
    line(stop.signal.aborted ? 'stopped before the end:' : 'done:');
    line(summary(report));
    // One machine-readable line on stdout, for scripts.
    process.stdout.write(`${JSON.stringify({ ...report, complete: !stop.signal.aborted, keyId: first.id })}\n`);
    if (stop.signal.aborted) return 3;
    if (report.scanned === 0 && !allowEmpty) {
      line(
        `found no token under the prefix ${redisConfig.prefix} in ${describeRedis(redisConfig)}: check that REDIS_PREFIX and REDIS_URL (its database) are the service's; do not retire a key on this run. If no token is expected (a new deployment), run again with --allow-empty`,
      );
      return 4;
    }
    if (report.failedToOpen > 0) {
      line(
        'some values did not open: a key id not in TOKEN_ENCRYPTION_KEYS must be added back (not first) before it is retired; a listed one means a damaged value',
      );
      return 2;
    }
    return 0;
  } catch (err: unknown) {
    line(`rotation failed: ${err instanceof Error ? err.message : String(err)} (run again to continue)`);
    return 1;
  } finally {
    await redis.quit().catch(() => undefined);
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    line(`rotate-keys failed: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  },
);
