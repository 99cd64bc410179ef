/**
 * Fault scenario `sessions-flood`: clients hammer /connect without a cookie (AUTH_MODE=header,
 * rate limits off), each request a new session and a new pending flow. First 10 s with a new
 * user id on every request, then 5 s with one user id for all. Figures: flows started, session
 * keys in Redis and their longest TTL, Redis used_memory (INFO memory) before and after, the
 * bytes each session and its flow cost, and what that rate keeps in Redis once steady: sessions
 * live as long as their flow (15 min) where they used to live SESSION_TTL_SECONDS (24 h), and one
 * user holds at most MAX_SESSIONS_PER_USER of them. Loopback only: its own redis-server, the
 * emulator and the service in this process; about 20 seconds.
 */
import { FLOW_TTL_MS } from '../../src/storage/flows.js';
import { MAX_SESSIONS_PER_USER } from '../../src/storage/user-sessions.js';
import { startStack, type Stack } from '../../test/helpers/stack.js';
import type { FaultScenario } from './types.js';

const WORKERS = 16;
const DISTINCT_MS = 10_000;
const ONE_USER_MS = 5_000;
/** SESSION_TTL_SECONDS' default: how long every session lived before. */
const OLD_SESSION_TTL_S = 86_400;
const MB = 1024 * 1024;

async function usedMemory(stack: Stack): Promise<number> {
  const info = await stack.inspect.info('memory');
  const m = /^used_memory:(\d+)/m.exec(info);
  if (m?.[1] === undefined) throw new Error('INFO memory has no used_memory');
  return Number(m[1]);
}

/** The session keys under the stack's prefix, their longest TTL in seconds, and what one of them takes (MEMORY USAGE). */
async function sessions(stack: Stack): Promise<{ count: number; maxTtlS: number; sampleBytes: number }> {
  let cursor = '0';
  let count = 0;
  let maxTtlS = 0;
  let sampleBytes = 0;
  do {
    const [next, keys] = await stack.inspect.scan(cursor, 'MATCH', `${stack.config.redis.prefix}sess:*`, 'COUNT', 1000);
    cursor = next;
    count += keys.length;
    if (keys.length > 0) {
      const pipeline = stack.inspect.pipeline();
      for (const k of keys) pipeline.ttl(k);
      for (const [, ttl] of (await pipeline.exec()) ?? []) maxTtlS = Math.max(maxTtlS, Number(ttl));
      if (sampleBytes === 0 && keys[0] !== undefined) sampleBytes = Number(await stack.inspect.call('MEMORY', 'USAGE', keys[0]));
    }
  } while (cursor !== '0');
  return { count, maxTtlS, sampleBytes };
}

/** `/connect` without a cookie in WORKERS loops for `ms`; answers the count by status. */
async function flood(stack: Stack, ms: number, userOf: (n: number) => string): Promise<Map<number, number>> {
  const statuses = new Map<number, number>();
  const header = stack.config.auth.mode === 'header' ? stack.config.auth.header : 'x-user-id';
  const deadline = Date.now() + ms;
  let n = 0;
  await Promise.all(
    Array.from({ length: WORKERS }, async () => {
      while (Date.now() < deadline) {
        const res = await fetch(`${stack.url}/connect`, { headers: { [header]: userOf(n++) }, redirect: 'manual' }).catch(() => undefined);
        await res?.arrayBuffer();
        const status = res?.status ?? 0;
        statuses.set(status, (statuses.get(status) ?? 0) + 1);
      }
    }),
  );
  return statuses;
}

const summary = (m: Map<number, number>): string =>
  [...m]
    .sort(([a], [b]) => a - b)
    .map(([s, c]) => `${s}:${c}`)
    .join(' ');

export const scenario: FaultScenario = {
  name: 'sessions-flood',
  describe: `/connect without a cookie, ${WORKERS} at a time: ${DISTINCT_MS / 1000} s with a new user each time, then ${ONE_USER_MS / 1000} s as one user; session keys, TTLs and Redis memory`,
  async run(ctx) {
    const stack = await startStack({ env: { LOG_LEVEL: 'warn' } });
    try {
      const before = await usedMemory(stack);
      const distinct = await flood(stack, DISTINCT_MS, (n) => `flood-${n}`);
      const started = distinct.get(302) ?? 0;
      const afterDistinct = await usedMemory(stack);
      const seen = await sessions(stack);
      ctx.log(`new user each time: ${summary(distinct)}; ${seen.count} session keys, longest TTL ${seen.maxTtlS} s`);
      const perSession = started > 0 ? (afterDistinct - before) / started : NaN;
      const rate = started / (DISTINCT_MS / 1000);

      const one = await flood(stack, ONE_USER_MS, () => 'flood-one-user');
      const afterOne = await sessions(stack);
      const oneUserSessions = afterOne.count - seen.count;
      ctx.log(`one user: ${summary(one)}; that user holds ${oneUserSessions} session keys`);
      return {
        'flows started (new user each)': started,
        'answers (new user each)': summary(distinct),
        'session keys after': seen.count,
        'longest session TTL (s)': seen.maxTtlS,
        'flow TTL (s)': FLOW_TTL_MS / 1000,
        'old session TTL (s)': OLD_SESSION_TTL_S,
        'used_memory before (MB)': Number((before / MB).toFixed(1)),
        'used_memory after (MB)': Number((afterDistinct / MB).toFixed(1)),
        'bytes per session and flow': Math.round(perSession),
        'flows per second': Math.round(rate),
        'bytes of one session key': seen.sampleBytes,
        // Once steady, Redis holds what this rate creates within the life of each key.
        'steady Redis at this rate (MB)': Math.round((rate * (FLOW_TTL_MS / 1000) * perSession) / MB),
        'same with 24 h sessions (MB)': Math.round(
          (rate * (OLD_SESSION_TTL_S * seen.sampleBytes + (FLOW_TTL_MS / 1000) * (perSession - seen.sampleBytes))) / MB,
        ),
        'flows started (one user)': one.get(302) ?? 0,
        'sessions one user holds': oneUserSessions,
        'sessions per user limit': MAX_SESSIONS_PER_USER,
      };
    } finally {
      await stack.close();
    }
  },
};
