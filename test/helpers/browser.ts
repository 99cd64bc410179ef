import { timedOut } from './wait.js';

/**
 * A minimal browser for integration tests: fetch with a cookie jar and manual redirects, so a
 * test sees every hop (302 to the webview, 303 back) and can assert on each.
 */
export interface Hop {
  status: number;
  location: string | undefined;
  headers: Headers;
  text: string;
  url: string;
}

export class Browser {
  readonly cookies = new Map<string, string>();

  constructor(
    readonly base: string,
    private readonly defaultHeaders: Record<string, string> = {},
  ) {}

  cookieHeader(): string {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }

  /**
   * One request through the cookie jar. With `deadlineMs`, a request that has no complete answer
   * by then (a hang) is aborted and fails, naming the request, instead of waiting for jest.
   */
  async request(method: string, pathOrUrl: string, init: { headers?: Record<string, string>; body?: string; deadlineMs?: number } = {}): Promise<Hop> {
    const url = new URL(pathOrUrl, this.base).href;
    const headers: Record<string, string> = { ...this.defaultHeaders, ...init.headers };
    if (this.cookies.size > 0 && url.startsWith(this.base)) headers.cookie = this.cookieHeader();
    const { deadlineMs } = init;
    if (deadlineMs === undefined) return this.send(method, url, headers, init.body);
    const signal = AbortSignal.timeout(deadlineMs);
    const what = `the answer to ${method} ${new URL(url).pathname}`;
    return this.send(method, url, headers, init.body, signal).catch((err: unknown) => {
      if (signal.aborted) throw timedOut(what, deadlineMs);
      throw new Error(`${method} ${pathOrUrl}: ${String(err)} (${String(err instanceof Error ? err.cause : '')})`);
    });
  }

  private async send(method: string, url: string, headers: Record<string, string>, body: string | undefined, signal?: AbortSignal): Promise<Hop> {
    const res = await fetch(url, { method, headers, body, redirect: 'manual', ...(signal !== undefined ? { signal } : {}) });
    if (url.startsWith(this.base)) {
      for (const c of res.headers.getSetCookie()) {
        const [pair = ''] = c.split(';');
        const eq = pair.indexOf('=');
        const name = pair.slice(0, eq).trim();
        const value = pair.slice(eq + 1).trim();
        if (/Max-Age=0|Expires=Thu, 01 Jan 1970/i.test(c)) this.cookies.delete(name);
        else this.cookies.set(name, value);
      }
    }
    const text = await res.text();
    return { status: res.status, location: res.headers.get('location') ?? undefined, headers: res.headers, text, url };
  }

  get(pathOrUrl: string, headers: Record<string, string> = {}): Promise<Hop> {
    return this.request('GET', pathOrUrl, { headers });
  }

  /** A session-less copy (another browser, or cookies blocked). */
  withoutCookies(): Browser {
    return new Browser(this.base, this.defaultHeaders);
  }
}
