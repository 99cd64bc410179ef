import { describe, expect, it } from '@jest/globals';
import { Retrier, type Step } from '../../src/connections/powens-users.js';
import { AppError } from '../../src/errors.js';
import { createLogger } from '../../src/logging.js';

/** Background work of the link flows (src/connections/powens-users.ts): retried, then given up with a line naming what is left. */

function retrier(delays: number[]): { r: Retrier; lines: () => Record<string, unknown>[] } {
  const out: string[] = [];
  const logger = createLogger('info', { write: (line: string) => void out.push(line) });
  return { r: new Retrier(logger, delays), lines: () => out.map((l) => JSON.parse(l) as Record<string, unknown>) };
}

describe('Retrier', () => {
  it('runs the first attempt now, answers when it ended, and tries again after each delay until done', async () => {
    const { r, lines } = retrier([5, 5, 5]);
    const steps: Step[] = ['again', 'again', 'done'];
    let calls = 0;
    await r.start(
      'job',
      () => ({ powensUserId: 7 }),
      () => Promise.resolve(steps[calls++] ?? 'done'),
      'now',
    );
    expect(calls).toBe(1);
    expect(r.pending()).toBe(1);
    await r.idle();
    expect(calls).toBe(3);
    expect(r.pending()).toBe(0);
    expect(lines().filter((l) => l.msg === 'background work scheduled')).toEqual([expect.objectContaining({ job: 'job', powensUserId: 7 })]);
  });

  it('takes a thrown error for "try again", and gives up after the last delay with an error line naming what is left', async () => {
    const { r, lines } = retrier([1, 1]);
    let calls = 0;
    let id: number | null = null;
    await r.start(
      'deletion',
      () => ({ powensUserId: id }),
      () => {
        calls += 1;
        id = 42;
        return Promise.reject(new AppError('POWENS_UNAVAILABLE'));
      },
      'now',
    );
    await r.idle();
    expect(calls).toBe(3);
    expect(lines().filter((l) => l.msg === 'background work failed; will try again')).toHaveLength(3);
    expect(lines().find((l) => l.level === 'error')).toMatchObject({
      msg: 'background work given up: what it names is left as it is',
      job: 'deletion',
      attempts: 3,
      powensUserId: 42,
    });
  });

  it("'later' makes the first attempt after the first delay, and answers at once", async () => {
    const { r } = retrier([20]);
    let calls = 0;
    await r.start(
      'later job',
      () => ({}),
      () => Promise.resolve((calls++, 'done' as Step)),
      'later',
    );
    expect(calls).toBe(0);
    await r.idle();
    expect(calls).toBe(1);
  });
});
