import { describe, expect, it } from '@jest/globals';
import { loadConfig, type Config } from '../../src/config.js';

/** When the OTEL_* variables turn tracing on, and what they are turned into (src/config/load.ts). */

const BASE: Record<string, string> = {
  POWENS_DOMAIN: 'acme-sandbox',
  POWENS_CLIENT_ID: 'client-id-123',
  POWENS_CLIENT_SECRET: 'client-secret-0123456789',
};

function tracing(env: Record<string, string>): Config['tracing'] {
  const result = loadConfig({ ...BASE, ...env });
  if (!result.ok) throw new Error(result.problems.join('\n'));
  return result.config.tracing;
}

function problems(env: Record<string, string>): string[] {
  const result = loadConfig({ ...BASE, ...env });
  return result.ok ? [] : result.problems;
}

describe('tracing configuration', () => {
  it('is off when no OTEL_* variable is set', () => {
    expect(tracing({})).toEqual({ enabled: false });
  });

  it('is on with an endpoint, sending to its /v1/traces, as protobuf, from powens-connect-bff, every trace kept', () => {
    expect(tracing({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' })).toEqual({
      enabled: true,
      url: 'http://collector:4318/v1/traces',
      protocol: 'http/protobuf',
      headers: {},
      compression: 'none',
      timeoutMs: 10000,
      serviceName: 'powens-connect-bff',
      resourceAttributes: {},
      sampler: 'parentbased_always_on',
      samplerRatio: 1,
    });
  });

  it('keeps a base endpoint path and uses a traces endpoint as it is, the latter winning', () => {
    expect(tracing({ OTEL_EXPORTER_OTLP_ENDPOINT: 'https://otlp.example.com/otel/' })).toMatchObject({ url: 'https://otlp.example.com/otel/v1/traces' });
    expect(
      tracing({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318', OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://other:9999/custom/path' }),
    ).toMatchObject({ url: 'http://other:9999/custom/path' });
  });

  it('is on with OTEL_TRACES_EXPORTER=otlp alone, towards the local collector', () => {
    expect(tracing({ OTEL_TRACES_EXPORTER: 'otlp' })).toMatchObject({ enabled: true, url: 'http://localhost:4318/v1/traces' });
  });

  it('stays off with OTEL_TRACES_EXPORTER=none or OTEL_SDK_DISABLED=true, endpoint or not', () => {
    expect(tracing({ OTEL_TRACES_EXPORTER: 'none', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' })).toEqual({ enabled: false });
    expect(tracing({ OTEL_SDK_DISABLED: 'true', OTEL_TRACES_EXPORTER: 'otlp', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' })).toEqual({
      enabled: false,
    });
  });

  it('reads headers and resource attributes as URL-encoded key=value lists, and OTEL_SERVICE_NAME', () => {
    expect(
      tracing({
        OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318',
        OTEL_EXPORTER_OTLP_HEADERS: 'authorization=Bearer%20abc,x-team=bank',
        OTEL_RESOURCE_ATTRIBUTES: 'deployment.environment.name=prod, service.namespace=pay',
        OTEL_SERVICE_NAME: 'bff-eu',
        OTEL_TRACES_SAMPLER: 'parentbased_traceidratio',
        OTEL_TRACES_SAMPLER_ARG: '0.25',
        OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
        OTEL_EXPORTER_OTLP_COMPRESSION: 'gzip',
      }),
    ).toMatchObject({
      headers: { authorization: 'Bearer abc', 'x-team': 'bank' },
      resourceAttributes: { 'deployment.environment.name': 'prod', 'service.namespace': 'pay' },
      serviceName: 'bff-eu',
      sampler: 'parentbased_traceidratio',
      samplerRatio: 0.25,
      protocol: 'http/json',
      compression: 'gzip',
    });
  });

  it('refuses gRPC, an exporter it does not have, credentials in the URL, a bad list and a ratio out of range, without echoing the headers', () => {
    const found = problems({
      OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc',
      OTEL_TRACES_EXPORTER: 'zipkin',
      OTEL_EXPORTER_OTLP_ENDPOINT: 'http://user:pass@collector:4318',
      OTEL_EXPORTER_OTLP_HEADERS: 'secret-api-key-0123456789',
      OTEL_TRACES_SAMPLER_ARG: '1.5',
    });
    expect(found.map((p) => p.split(':')[0]).sort()).toEqual([
      'OTEL_EXPORTER_OTLP_ENDPOINT',
      'OTEL_EXPORTER_OTLP_HEADERS',
      'OTEL_EXPORTER_OTLP_PROTOCOL',
      'OTEL_TRACES_EXPORTER',
      'OTEL_TRACES_SAMPLER_ARG',
    ]);
    expect(found.join('\n')).not.toContain('secret-api-key');
    expect(found.join('\n')).not.toContain('pass@');
  });
});
