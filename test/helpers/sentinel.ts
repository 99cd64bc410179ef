import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { freePort, startTestRedis, type TestRedis } from './redis-server.js';
import { waitFor } from './wait.js';

/**
 * A replicated Redis under Sentinel, as real processes on 127.0.0.1: a master, one replica and
 * three sentinels (`redis-server <conf> --sentinel`, quorum 2, a master is down after
 * `downAfterMs` without an answer, 1 s unless told). For failover tests and fault scenarios.
 */
export interface SentinelSet {
  name: string;
  /** The two data nodes; which one is master changes with failovers. */
  nodes: [TestRedis, TestRedis];
  /** `host:port` of the three sentinels, for REDIS_SENTINELS. */
  sentinels: string;
  /** The port of the master the sentinels name now. */
  masterPort(): Promise<number>;
  /** The data node that is master now. */
  master(): Promise<TestRedis>;
  /** Asks a sentinel for a failover (SENTINEL FAILOVER) and waits for another master to be named. */
  failover(timeoutMs?: number): Promise<void>;
  /** Waits until the sentinels name a master other than `port`. */
  masterMovedFrom(port: number, timeoutMs?: number): Promise<void>;
  /** Waits until the master has `n` replicas online. */
  replicasOnline(n: number, timeoutMs?: number): Promise<void>;
  /** The sentinels' configuration epoch: it grows by one with each failover, asked for or not. */
  configEpoch(): Promise<number>;
  close(): Promise<void>;
}

export async function startSentinelSet(name = 'bffmaster', { downAfterMs = 1000 }: { downAfterMs?: number } = {}): Promise<SentinelSet> {
  const first = await startTestRedis();
  const second = await startTestRedis({ args: ['--replicaof', '127.0.0.1', String(first.port)] });
  const dir = mkdtempSync(join(tmpdir(), 'bff-sentinels-'));
  const procs: ChildProcess[] = [];
  const ports: number[] = [];
  for (let i = 0; i < 3; i++) {
    const port = await freePort();
    const conf = join(dir, `sentinel-${i}.conf`);
    writeFileSync(
      conf,
      [
        `port ${port}`,
        'bind 127.0.0.1',
        `dir ${dir}`,
        `sentinel monitor ${name} 127.0.0.1 ${first.port} 2`,
        `sentinel down-after-milliseconds ${name} ${downAfterMs}`,
        `sentinel failover-timeout ${name} 5000`,
        `sentinel parallel-syncs ${name} 1`,
        '',
      ].join('\n'),
    );
    procs.push(spawn('redis-server', [conf, '--sentinel'], { stdio: 'ignore' }));
    ports.push(port);
  }
  const sentinel = new Redis({ port: ports[0], host: '127.0.0.1', lazyConnect: false, maxRetriesPerRequest: 1 });
  sentinel.on('error', () => undefined);
  const nodes: [TestRedis, TestRedis] = [first, second];

  const masterPort = async (): Promise<number> => {
    const addr = (await sentinel.call('SENTINEL', 'get-master-addr-by-name', name)) as [string, string] | null;
    return Number(addr?.[1] ?? 0);
  };
  const masterMovedFrom = async (port: number, timeoutMs = 30_000): Promise<void> => {
    await waitFor(async () => ![0, port].includes(await masterPort().catch(() => 0)), { timeoutMs, what: `the sentinels to name a master other than ${port}` });
  };
  const replicasOnline = async (n: number, timeoutMs = 30_000): Promise<void> => {
    await waitFor(
      async () => {
        const port = await masterPort().catch(() => 0);
        if (port === 0) return false;
        const master = new Redis({ port, host: '127.0.0.1', lazyConnect: false, maxRetriesPerRequest: 1 });
        master.on('error', () => undefined);
        try {
          const info = await master.info('replication');
          return (info.match(/^slave\d+:.*state=online/gm) ?? []).length >= n;
        } catch {
          return false;
        } finally {
          master.disconnect();
        }
      },
      { timeoutMs, what: `the master to have ${n} replica(s) online` },
    );
  };

  await replicasOnline(1);
  // Every sentinel knows the other two (they meet through the master), so a quorum can be had.
  await waitFor(
    async () => {
      const fields = (await sentinel.call('SENTINEL', 'master', name)) as string[];
      return Number(fields[fields.indexOf('num-other-sentinels') + 1]) >= 2;
    },
    { timeoutMs: 30_000, what: 'the sentinels to know each other' },
  );

  return {
    name,
    nodes,
    sentinels: ports.map((p) => `127.0.0.1:${p}`).join(','),
    masterPort,
    async master() {
      const port = await masterPort();
      const node = nodes.find((n) => n.port === port);
      if (node === undefined) throw new Error(`no data node on port ${port}`);
      return node;
    },
    async failover(timeoutMs = 30_000) {
      const before = await masterPort();
      await sentinel.call('SENTINEL', 'FAILOVER', name);
      await masterMovedFrom(before, timeoutMs);
    },
    masterMovedFrom,
    replicasOnline,
    async configEpoch() {
      const fields = (await sentinel.call('SENTINEL', 'master', name)) as string[];
      return Number(fields[fields.indexOf('config-epoch') + 1]);
    },
    async close() {
      sentinel.disconnect();
      await Promise.all(
        procs.map(
          (p) =>
            new Promise<void>((resolve) => {
              if (p.exitCode !== null || p.signalCode !== null) return resolve();
              p.once('exit', () => resolve());
              p.kill('SIGKILL');
            }),
        ),
      );
      for (const n of nodes) {
        try {
          n.resume();
        } catch {
          // Not running (killed by the test): nothing to resume.
        }
        await n.close();
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
