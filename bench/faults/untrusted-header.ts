/**
 * Fault scenario `untrusted-header` (`npm run faults`): the identity attack tried in review: another user's id in the header.
 * AUTH_MODE=header behind a proxy at 127.0.0.1 (TRUST_PROXY=127.0.0.1); alice links her bank
 * through that proxy. Then a client that is not the proxy (its socket bound to 127.0.0.2) sends
 * `x-user-id: alice` to list her connections, delete one, unlink her and start a flow as her.
 * Before the fix the header was believed from any peer and the attacker listed and deleted
 * alice's connections; now every attempt must fail (no user: 401) and alice keep her link.
 * Loopback only; a few seconds.
 */
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import { completeWebview, startEmulator } from '../../emulator/index.js';
import { createApp } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/logging.js';
import { Metrics } from '../../src/metrics.js';
import { PowensClient } from '../../src/powens/client.js';
import { connectRedis, createRedis } from '../../src/storage/redis.js';
import { startServer } from '../../src/server.js';
import { freePort, startRedis } from '../processes.js';
import type { FaultScenario } from './types.js';

const PROXY = '127.0.0.1';
const ATTACKER = '127.0.0.2';
const ATTEMPTS = 200;

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

function request(port: number, from: string, method: string, path: string, headers: Record<string, string>): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: PROXY, port, method, path, headers, localAddress: from, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

export const scenario: FaultScenario = {
  name: 'untrusted-header',
  describe: `header mode, TRUST_PROXY=${PROXY}: a client at ${ATTACKER} sends x-user-id: alice (${ATTEMPTS} requests: list, delete one, unlink, /connect)`,
  async run(ctx) {
    const redisServer = await startRedis();
    const clientSecret = randomBytes(16).toString('hex');
    const emulator = await startEmulator({ clients: [{ clientId: 'faults-client', clientSecret, redirectUris: ['http://127.0.0.1:*'] }] });
    const port = await freePort();
    const loaded = loadConfig({
      NODE_ENV: 'test',
      PORT: String(port),
      HOST: PROXY,
      PUBLIC_URL: `http://127.0.0.1:${port}`,
      POWENS_DOMAIN: 'demo-sandbox.biapi.pro',
      POWENS_CLIENT_ID: 'faults-client',
      POWENS_CLIENT_SECRET: clientSecret,
      POWENS_API_URL: emulator.apiUrl,
      POWENS_WEBVIEW_URL: emulator.url,
      REDIS_URL: redisServer.url,
      SESSION_SECRET: randomBytes(32).toString('base64url'),
      TOKEN_ENCRYPTION_KEYS: `k1:${randomBytes(32).toString('base64')}`,
      AUTH_MODE: 'header',
      TRUST_PROXY: PROXY,
      SHUTDOWN_DELAY_MS: '0',
      LOG_LEVEL: 'warn',
    });
    if (!loaded.ok) throw new Error(loaded.problems.join('\n'));
    const config = loaded.config;
    const lines: string[] = [];
    const logger = createLogger(config.logLevel, { write: (line: string) => void lines.push(line) });
    const redis = createRedis(config.redis);
    const metrics = new Metrics({ defaultMetrics: false });
    const powens = new PowensClient(config.powens, metrics.observePowens);
    try {
      await connectRedis(redis, config.redis);
      const built = createApp({ config, redis, powens, logger, metrics });
      const server = await startServer(built.app, { config, lifecycle: built.lifecycle, logger });
      try {
        // Alice links her bank through the proxy: /connect, the webview, /callback with her session cookie.
        const alice = { 'x-user-id': 'alice' };
        const start = await request(port, PROXY, 'GET', '/connect', alice);
        const cookie = (start.headers['set-cookie'] ?? []).map((c) => c.split(';')[0]).join('; ');
        const back = await completeWebview(start.headers.location ?? '', { kind: 'connect' });
        const callback = await request(port, PROXY, 'GET', `${back.pathname}${back.search}`, { ...alice, cookie });
        if (callback.status !== 303) throw new Error(`alice's link failed: ${callback.status} ${callback.body.slice(0, 200)}`);
        const connectionId = new URL(callback.headers.location ?? '', config.publicUrl).searchParams.get('connection_id') ?? '0';
        ctx.log(`alice linked through the proxy (connection ${connectionId})`);

        const asAlice = { 'x-user-id': 'alice', 'x-csrf': '1' };
        const attacks: [string, string, Record<string, string>][] = [
          ['GET', '/me/connections', asAlice],
          ['DELETE', `/me/connections/${connectionId}`, asAlice],
          ['DELETE', '/me/connections', asAlice],
          ['GET', '/connect', { ...asAlice, accept: 'text/html' }],
        ];
        let successes = 0;
        const statuses = new Map<number, number>();
        for (let i = 0; i < ATTEMPTS; i += 1) {
          const attack = attacks[i % attacks.length];
          if (attack === undefined) continue;
          const [method, path, headers] = attack;
          const res = await request(port, ATTACKER, method, path, headers);
          statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
          // Anything but a refusal gave the attacker something: a list, a deletion, a webview.
          if (res.status < 400) successes += 1;
        }
        const list = await request(port, PROXY, 'GET', '/me/connections', alice);
        const stillLinked = (JSON.parse(list.body) as { linked: boolean; connections: unknown[] }).connections.length;
        const warnings = lines.filter((l) => l.includes('identity header ignored')).length;
        ctx.log(`attacker statuses: ${[...statuses].map(([s, n]) => `${s} x${n}`).join(', ')}`);
        return {
          attempts: ATTEMPTS,
          successes,
          'alice connections left': stillLinked,
          'warnings logged': warnings,
        };
      } finally {
        await server.shutdown();
        built.close();
      }
    } finally {
      powens.close();
      redis.disconnect();
      await emulator.close();
      redisServer.child.proc.kill('SIGKILL');
      redisServer.cleanup();
    }
  },
};
