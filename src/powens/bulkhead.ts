/** Why a call got no slot: the queue was full when it came, or its deadline passed while it waited. */
export class BulkheadRejected extends Error {
  constructor(readonly reason: 'queue full' | 'no slot before the deadline') {
    super(`no slot for this call to Powens: ${reason}`);
    this.name = 'BulkheadRejected';
  }
}

/**
 * At most `size` calls at once, at most `queue` more waiting, in order of arrival; a waiting call
 * leaves the queue when its deadline passes. A slot freed goes straight to the oldest waiting
 * call. Hand-written rather than p-limit (no bound on its queue, no way for a waiting call to
 * leave it) or p-queue (it can drop a waiting call on an AbortSignal, but races the running call
 * against the same signal and brings priorities, intervals and events this does not need).
 */
export class Bulkhead {
  private running = 0;
  /** Insertion-ordered: the oldest waiting call first. */
  private readonly waiting = new Set<() => void>();

  constructor(
    readonly size: number,
    readonly queue: number,
  ) {}

  get inFlight(): number {
    return this.running;
  }

  get queued(): number {
    return this.waiting.size;
  }

  /** Resolves with the function that frees the slot (call it once), or rejects with BulkheadRejected. */
  acquire(deadline: AbortSignal): Promise<() => void> {
    if (deadline.aborted) return Promise.reject(new BulkheadRejected('no slot before the deadline'));
    if (this.running < this.size) {
      this.running += 1;
      return Promise.resolve(this.releaser());
    }
    if (this.waiting.size >= this.queue) return Promise.reject(new BulkheadRejected('queue full'));
    return new Promise((resolve, reject) => {
      const grant = (): void => {
        deadline.removeEventListener('abort', giveUp);
        resolve(this.releaser());
      };
      const giveUp = (): void => {
        this.waiting.delete(grant);
        reject(new BulkheadRejected('no slot before the deadline'));
      };
      this.waiting.add(grant);
      deadline.addEventListener('abort', giveUp, { once: true });
    });
  }

  private releaser(): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.waiting.values().next();
      if (next.done === true) {
        this.running -= 1;
        return;
      }
      // The slot passes on as it is: `running` stays the same.
      this.waiting.delete(next.value);
      next.value();
    };
  }
}
