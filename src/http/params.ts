import { AppError } from '../errors.js';

/**
 * One query parameter as a single string. A repeated parameter (`?code=a&code=b`), a bracketed
 * one parsed into an object, or a value longer than `maxLength` is a 400: the flow never
 * guesses which of two values was meant.
 */
export function singleParam(query: unknown, name: string, maxLength: number): string | undefined {
  const value: unknown = typeof query === 'object' && query !== null ? (query as Record<string, unknown>)[name] : undefined;
  if (value === undefined) return undefined;
  if (typeof value !== 'string') {
    throw new AppError('BAD_REQUEST', { logDetail: { param: name, reason: 'repeated or structured parameter' } });
  }
  if (value.length > maxLength) {
    throw new AppError('BAD_REQUEST', { logDetail: { param: name, reason: 'too long', length: value.length } });
  }
  return value;
}

/** A Powens numeric id (connection, user) from a path or query value, or undefined. */
export function parseId(value: string | undefined): number | undefined {
  if (value === undefined || !/^[1-9]\d{0,14}$/.test(value)) return undefined;
  return Number(value);
}
