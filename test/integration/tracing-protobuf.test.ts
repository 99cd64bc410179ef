import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/logging.js';
import { startTracing } from '../../src/ops/tracing.js';
import { startServerSpan, startSpan, withContext } from '../../src/tracing.js';
import { freePort } from '../helpers/redis-server.js';
import { waitFor } from '../helpers/wait.js';

/**
 * The default export encoding (OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf), the headers of
 * OTEL_EXPORTER_OTLP_HEADERS, and what shutdown leaves behind. tracing.test.ts reads the spans
 * themselves, in JSON; here a receiver on loopback only checks what arrives.
 */

jest.setTimeout(60_000);

describe('tracing export as OTLP/HTTP protobuf', () => {
  let receiver: Server;
  let url: string;
  const received: { contentType: string; apiKey: string | undefined; body: Buffer }[] = [];

  beforeAll(async () => {
    receiver = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const key = req.headers['x-api-key'];
        received.push({ contentType: req.headers['content-type'] ?? '', apiKey: typeof key === 'string' ? key : undefined, body: Buffer.concat(chunks) });
        res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    await new Promise((resolve) => receiver.close(resolve));
  });

  it('sends protobuf bodies with the configured headers, and records nothing once shut down', async () => {
    const result = loadConfig({
      POWENS_DOMAIN: 'acme-sandbox',
      POWENS_CLIENT_ID: 'client-id-123',
      POWENS_CLIENT_SECRET: 'client-secret-0123456789',
      OTEL_EXPORTER_OTLP_ENDPOINT: url,
      OTEL_EXPORTER_OTLP_HEADERS: 'x-api-key=key%20one',
      OTEL_SERVICE_NAME: 'bff-protobuf-check',
    });
    if (!result.ok) throw new Error(result.problems.join('\n'));
    const tracing = startTracing(result.config.tracing, createLogger('silent'));
    expect(tracing).toBeDefined();
    const { span: request, ctx } = startServerSpan('GET', {});
    withContext(ctx, () => {
      const span = startSpan('redis token_read', { 'db.system.name': 'redis' });
      expect(span.isRecording()).toBe(true);
      span.end();
    });
    request.end();
    await tracing?.flush();
    await waitFor(() => received.length > 0, { timeoutMs: 10_000, what: 'an export at the receiver' });
    await tracing?.shutdown();

    const first = received[0];
    expect(first?.contentType).toBe('application/x-protobuf');
    expect(first?.apiKey).toBe('key one');
    // Protobuf keeps strings as they are: the span's and the service's names are in the body.
    expect(first?.body.includes('redis token_read')).toBe(true);
    expect(first?.body.includes('bff-protobuf-check')).toBe(true);

    // Unregistered: the API is back to its no-ops.
    expect(startServerSpan('GET', {}).span.isRecording()).toBe(false);
  });

  it('logs an export that fails at warn, with its reason and without the export headers', async () => {
    const result = loadConfig({
      POWENS_DOMAIN: 'acme-sandbox',
      POWENS_CLIENT_ID: 'client-id-123',
      POWENS_CLIENT_SECRET: 'client-secret-0123456789',
      OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${await freePort()}`,
      OTEL_EXPORTER_OTLP_HEADERS: 'x-api-key=never-logged-0123456789',
      OTEL_EXPORTER_OTLP_TIMEOUT: '1000',
    });
    if (!result.ok) throw new Error(result.problems.join('\n'));
    const lines: string[] = [];
    const tracing = startTracing(result.config.tracing, createLogger('info', { write: (line: string) => void lines.push(line) }));
    // Exported by the batch processor's timer (5 s), failing after the exporter's retries (1 s).
    startServerSpan('GET', {}).span.end();
    startServerSpan('GET', {}).span.end();
    await waitFor(() => lines.some((l) => l.includes('"level":"warn"') && l.includes('tracing:')), {
      timeoutMs: 20_000,
      what: 'a warning about the failed export',
      detail: () => lines.join('\n'),
    });
    await tracing?.shutdown();
    const warnings = lines.filter((l) => l.includes('"level":"warn"'));
    expect(warnings).toHaveLength(1);
    expect(JSON.parse(warnings[0] ?? '{}')).toMatchObject({ reason: expect.any(String), tracing: expect.stringContaining('/v1/traces') });
    expect(lines.join('\n')).not.toContain('never-logged');
  });
});
