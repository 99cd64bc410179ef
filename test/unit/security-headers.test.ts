import express, { type RequestHandler } from 'express';
import request from 'supertest';
import { securityHeaders, securityPolicy } from '../../src/http/security-headers.js';

function headersOf(middleware: RequestHandler): Promise<Record<string, string>> {
  const app = express();
  app.use(middleware);
  app.get('/', (_req, res) => {
    res.send('ok');
  });
  return request(app)
    .get('/')
    .then((res) => {
      const { date: _date, ...rest } = res.headers as Record<string, string>;
      return rest;
    });
}

describe('security headers computed once', () => {
  for (const secureCookies of [false, true]) {
    test(`are exactly the headers helmet sets on each request (${secureCookies ? 'https' : 'http'} PUBLIC_URL)`, async () => {
      const replayed = await headersOf(securityHeaders({ secureCookies }));
      const live = await headersOf(securityPolicy({ secureCookies }));
      expect(replayed).toEqual(live);
      expect(replayed['content-security-policy']).toContain("frame-ancestors 'none'");
      expect('x-powered-by' in replayed).toBe(false);
      expect('strict-transport-security' in replayed).toBe(secureCookies);
    });
  }
});
