import { describe, expect, it } from '@jest/globals';
import { Bulkhead, BulkheadRejected } from '../../src/powens/bulkhead.js';

const never = (): AbortSignal => new AbortController().signal;

describe('Bulkhead', () => {
  it('gives at most its size of slots at once; a freed slot goes to the oldest waiting call', async () => {
    const b = new Bulkhead(2, 5);
    const first = await b.acquire(never());
    await b.acquire(never());
    const order: string[] = [];
    const third = b.acquire(never()).then((release) => {
      order.push('third');
      return release;
    });
    const fourth = b.acquire(never()).then(() => order.push('fourth'));
    expect({ inFlight: b.inFlight, queued: b.queued }).toEqual({ inFlight: 2, queued: 2 });
    first();
    (await third)();
    await fourth;
    expect(order).toEqual(['third', 'fourth']);
    expect({ inFlight: b.inFlight, queued: b.queued }).toEqual({ inFlight: 2, queued: 0 });
  });

  it('refuses a call at once when its queue is full', async () => {
    const b = new Bulkhead(1, 1);
    await b.acquire(never());
    void b.acquire(never());
    await expect(b.acquire(never())).rejects.toEqual(new BulkheadRejected('queue full'));
  });

  it('a waiting call whose deadline passes leaves the queue, refused, and the slot goes to the next one', async () => {
    const b = new Bulkhead(1, 2);
    const release = await b.acquire(never());
    const deadline = new AbortController();
    const early = b.acquire(deadline.signal);
    const late = b.acquire(never());
    deadline.abort();
    await expect(early).rejects.toEqual(new BulkheadRejected('no slot before the deadline'));
    expect(b.queued).toBe(1);
    release();
    await expect(late).resolves.toEqual(expect.any(Function));
    expect(b.inFlight).toBe(1);
  });

  it('refuses a call whose deadline has already passed', async () => {
    const b = new Bulkhead(1, 1);
    await expect(b.acquire(AbortSignal.abort())).rejects.toBeInstanceOf(BulkheadRejected);
    expect(b.inFlight).toBe(0);
  });

  it('frees a slot once however often its release is called', async () => {
    const b = new Bulkhead(2, 0);
    const release = await b.acquire(never());
    await b.acquire(never());
    release();
    release();
    expect(b.inFlight).toBe(1);
  });
});
