import { expect } from '@jest/globals';
import { decodeEntities } from '../../emulator/index.js';
import type { ErrorCode } from '../../src/errors.js';
import { createKeys } from '../../src/storage/keys.js';
import type { Hop } from './browser.js';
import type { Stack } from './stack.js';

/** The app's log lines, parsed. */
export function logEntries(stack: Stack, from = 0): Record<string, unknown>[] {
  return stack.logs.slice(from).map((line) => JSON.parse(line) as Record<string, unknown>);
}

export interface ExpectedErrorPage {
  status: number;
  errorCode: ErrorCode;
  /** Where the "try again" link must lead; undefined: the page has none. */
  retry: string | undefined;
  /** Where the way back to the app leads (default `/`, the default landing without RETURN_TO_ORIGINS). */
  back?: string;
}

/** The links of a page by what they do (`data-action`), their href decoded. */
export function pageLinks(hop: Hop): { back: string | undefined; retry: string | undefined } {
  const found = new Map<string, string>();
  for (const m of hop.text.matchAll(/<a class="button(?: secondary)?" data-action="(back|retry)" href="([^"]*)">/g)) {
    if (m[1] !== undefined && m[2] !== undefined && !found.has(m[1])) found.set(m[1], decodeEntities(m[2]));
  }
  return { back: found.get('back'), retry: found.get('retry') };
}

/**
 * Asserts the error page of docs/REFERENCE.md ("GET /callback"): HTML with the status, no-store and no-referrer,
 * the way back to the app, the "try again" link where there is one, no script, and a reference id that the log
 * line of that error carries. Answers the page's log entry.
 */
export function expectErrorPage(stack: Stack, hop: Hop, expected: ExpectedErrorPage): Record<string, unknown> {
  expect({ status: hop.status, errorCode: errorCodeOf(stack, hop) }).toEqual({ status: expected.status, errorCode: expected.errorCode });
  expect(hop.headers.get('content-type')).toMatch(/^text\/html/);
  expect(hop.headers.get('cache-control')).toBe('no-store');
  expect(hop.headers.get('referrer-policy')).toBe('no-referrer');
  expect(hop.location).toBeUndefined();
  expect(hop.text).not.toMatch(/<script/i);

  expect(pageLinks(hop)).toEqual({ back: expected.back ?? '/', retry: expected.retry });

  const reference = referenceOf(hop);
  expect(hop.headers.get('x-request-id')).toBe(reference);
  const entry = logEntries(stack).find((e) => e.reqId === reference && e.res !== undefined && e.errorCode === expected.errorCode);
  expect(entry).toBeDefined();
  return entry ?? {};
}

/** The reference id the error page shows. */
export function referenceOf(hop: Hop): string {
  const m = /<p class="reference">[^<]*<code>([^<]+)<\/code>/.exec(hop.text);
  if (m?.[1] === undefined) throw new Error(`no reference id on the page (status ${hop.status}): ${hop.text.slice(0, 300)}`);
  return m[1];
}

/**
 * The catalogue code of this page in its request's line (the one with `res`: other lines of the
 * request carry its reqId too, and may name other errors the flow met and handled).
 */
function errorCodeOf(stack: Stack, hop: Hop): unknown {
  const m = /<p class="reference">[^<]*<code>([^<]+)<\/code>/.exec(hop.text);
  if (m?.[1] === undefined) return undefined;
  return logEntries(stack).find((e) => e.reqId === m[1] && e.res !== undefined)?.errorCode;
}

/** The Redis keys that hold a stored token or its Powens user index for `userId`. */
export async function storedFor(stack: Stack, userId: string): Promise<string[]> {
  const keys = createKeys(stack.config.redis.prefix);
  const dump = await stack.dump();
  return [...dump.keys()].filter((k) => k === keys.token(userId));
}
