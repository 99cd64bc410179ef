/**
 * A small in-process work queue: webhook work runs after the answer was sent, a few jobs at a
 * time, and a full queue refuses new work (the sender then gets a 503 and retries later)
 * instead of growing without bound.
 */
export class WorkQueue {
  private readonly pending: (() => Promise<void>)[] = [];
  private running = 0;
  private waiters: (() => void)[] = [];

  constructor(
    private readonly concurrency: number,
    private readonly capacity: number,
    private readonly onError: (err: unknown) => void,
    /** Told of the number of jobs queued or running whenever it changes (a gauge). */
    private readonly onDepth: (depth: number) => void = () => undefined,
  ) {}

  /** Jobs queued or running. */
  get depth(): number {
    return this.pending.length + this.running;
  }

  /** Whether one more job would be accepted. */
  hasRoom(): boolean {
    return this.pending.length < this.capacity;
  }

  /** Queues a job; false when the queue is full. Jobs start on a later turn of the event loop. */
  push(job: () => Promise<void>): boolean {
    if (!this.hasRoom()) return false;
    this.pending.push(job);
    this.onDepth(this.depth);
    setImmediate(() => this.drain());
    return true;
  }

  /** Resolves once no job is queued or running (tests, shutdown). */
  idle(): Promise<void> {
    if (this.running === 0 && this.pending.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  private drain(): void {
    while (this.running < this.concurrency) {
      const job = this.pending.shift();
      if (job === undefined) break;
      this.running += 1;
      job()
        .catch((err: unknown) => this.onError(err))
        .finally(() => {
          this.running -= 1;
          this.onDepth(this.depth);
          this.drain();
        });
    }
    if (this.running === 0 && this.pending.length === 0) {
      const waiters = this.waiters;
      this.waiters = [];
      for (const w of waiters) w();
    }
  }
}
