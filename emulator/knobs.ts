/** Names of the emulated API endpoints, as the knobs and call counters know them. */
export const EMULATOR_ENDPOINTS = [
  'token.access',
  'auth.init',
  'token.code',
  'token.delete',
  'users.me',
  'users.delete',
  'connections.list',
  'connections.get',
  'connections.delete',
  'connectors.list',
] as const;

export type EmulatorEndpoint = (typeof EMULATOR_ENDPOINTS)[number];

export function isEmulatorEndpoint(value: unknown): value is EmulatorEndpoint {
  return typeof value === 'string' && (EMULATOR_ENDPOINTS as readonly string[]).includes(value);
}

export interface FailOptions {
  status: number;
  /** Answer body: an object is sent as JSON, a string as is; default a Powens error JSON. */
  body?: unknown;
  /** Extra response headers (e.g. `Retry-After`). */
  headers?: Record<string, string>;
  /** How many calls are affected; default: until reset. */
  times?: number;
}

export interface TimesOptions {
  times?: number;
}

export type KnobRule =
  | { kind: 'fail'; status: number; body: unknown; headers: Record<string, string>; remaining: number }
  | { kind: 'hang'; remaining: number }
  | { kind: 'delay'; ms: number; remaining: number }
  | { kind: 'malformed'; remaining: number };

/** What to do with one call: wait `delayMs`, then apply `terminal` if any, else answer normally. */
export interface KnobPlan {
  delayMs: number;
  terminal: Exclude<KnobRule, { kind: 'delay' }> | undefined;
}

function checkEndpoint(endpoint: unknown): EmulatorEndpoint {
  if (!isEmulatorEndpoint(endpoint)) {
    throw new TypeError(`Unknown emulator endpoint ${JSON.stringify(endpoint)}; one of ${EMULATOR_ENDPOINTS.join(', ')}`);
  }
  return endpoint;
}

function checkTimes(times: number | undefined): number {
  if (times === undefined) return Number.POSITIVE_INFINITY;
  if (!Number.isInteger(times) || times < 1) throw new TypeError(`times must be a positive integer, got ${times}`);
  return times;
}

/** Knob rules and call counters, per endpoint. */
export class KnobRegistry {
  private readonly rules = new Map<EmulatorEndpoint, KnobRule[]>();
  private readonly counts = new Map<EmulatorEndpoint, number>();
  /** The W3C `traceparent` of the latest calls (null: none sent), oldest first, at most 1000. */
  private readonly traced: { endpoint: EmulatorEndpoint; traceparent: string | null }[] = [];

  private add(endpoint: EmulatorEndpoint, rule: KnobRule): void {
    const list = this.rules.get(endpoint);
    if (list === undefined) this.rules.set(endpoint, [rule]);
    else list.push(rule);
  }

  fail(endpoint: EmulatorEndpoint, options: FailOptions): void {
    const ep = checkEndpoint(endpoint);
    const { status } = options;
    if (!Number.isInteger(status) || status < 200 || status > 599) {
      throw new TypeError(`status must be an integer between 200 and 599, got ${status}`);
    }
    this.add(ep, {
      kind: 'fail',
      status,
      body: options.body,
      headers: { ...(options.headers ?? {}) },
      remaining: checkTimes(options.times),
    });
  }

  hang(endpoint: EmulatorEndpoint, options: TimesOptions = {}): void {
    this.add(checkEndpoint(endpoint), { kind: 'hang', remaining: checkTimes(options.times) });
  }

  delay(endpoint: EmulatorEndpoint, ms: number, options: TimesOptions = {}): void {
    const ep = checkEndpoint(endpoint);
    if (!Number.isFinite(ms) || ms < 0) throw new TypeError(`ms must be a non-negative number, got ${ms}`);
    this.add(ep, { kind: 'delay', ms, remaining: checkTimes(options.times) });
  }

  malformed(endpoint: EmulatorEndpoint, options: TimesOptions = {}): void {
    this.add(checkEndpoint(endpoint), { kind: 'malformed', remaining: checkTimes(options.times) });
  }

  /**
   * Counts one call and decides its fate: every active delay applies (and uses one of its times),
   * then the oldest active fail/hang/malformed rule, if any, uses one of its times and applies.
   */
  take(endpoint: EmulatorEndpoint, traceparent: string | null = null): KnobPlan {
    this.counts.set(endpoint, (this.counts.get(endpoint) ?? 0) + 1);
    this.traced.push({ endpoint, traceparent });
    if (this.traced.length > 1000) this.traced.shift();
    const list = this.rules.get(endpoint);
    const plan: KnobPlan = { delayMs: 0, terminal: undefined };
    if (list === undefined) return plan;
    for (const rule of list) {
      if (rule.kind === 'delay') {
        plan.delayMs += rule.ms;
        rule.remaining -= 1;
      } else if (plan.terminal === undefined) {
        plan.terminal = rule;
        rule.remaining -= 1;
      }
    }
    const left = list.filter((r) => r.remaining > 0);
    if (left.length === 0) this.rules.delete(endpoint);
    else this.rules.set(endpoint, left);
    return plan;
  }

  calls(endpoint?: EmulatorEndpoint): number {
    if (endpoint !== undefined) return this.counts.get(checkEndpoint(endpoint)) ?? 0;
    let total = 0;
    for (const n of this.counts.values()) total += n;
    return total;
  }

  callsByEndpoint(): Record<EmulatorEndpoint, number> {
    const out = {} as Record<EmulatorEndpoint, number>;
    for (const ep of EMULATOR_ENDPOINTS) out[ep] = this.counts.get(ep) ?? 0;
    return out;
  }

  /** The `traceparent` header of each recent call (to `endpoint`, or to any), oldest first. */
  traceparents(endpoint?: EmulatorEndpoint): { endpoint: EmulatorEndpoint; traceparent: string | null }[] {
    const ep = endpoint === undefined ? undefined : checkEndpoint(endpoint);
    return this.traced.filter((t) => ep === undefined || t.endpoint === ep).map((t) => ({ ...t }));
  }

  /** Clears the rules, the call counters and the recorded trace headers. */
  clear(): void {
    this.rules.clear();
    this.counts.clear();
    this.traced.length = 0;
  }
}
