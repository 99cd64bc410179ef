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
  it('on drain, a job waiting a long delay makes its last attempt at once, and one that fails again is logged as left undone', async () => {
    const { r, lines } = retrier([60_000, 60_000]);
    let settled = 0;
    let failing = 0;
    await r.start(
      'reconcile',
      () => ({ powensUserId: 1 }),
      () => Promise.resolve(settled++ === 0 ? 'again' : 'done'),
      'now',
    );
    await r.start(
      'deletion',
      () => ({ powensUserId: 2 }),
      () => {
        failing += 1;
        return Promise.reject(new AppError('POWENS_UNAVAILABLE'));
      },
      'now',
    );
    expect(r.pending()).toBe(2);
    const left = await r.drain(5_000);
    expect(left).toBe(0);
    expect(settled).toBe(2);
    expect(failing).toBe(2);
    expect(lines().filter((l) => l.level === 'error')).toEqual([
      expect.objectContaining({ msg: 'background work left undone at stop: what it names is left as it is', job: 'deletion', powensUserId: 2, attempts: 2 }),
    ]);
  });

  it('drain answers after its budget with the number of jobs still running', async () => {
    const { r } = retrier([1]);
    let release: () => void = () => undefined;
    const hanging = new Promise<Step>((resolve) => (release = () => resolve('done')));
    void r.start(
      'slow',
      () => ({}),
      () => hanging,
      'later',
    );
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(await r.drain(10)).toBe(1);
    release();
    await r.idle();
    expect(r.pending()).toBe(0);
  });
});
