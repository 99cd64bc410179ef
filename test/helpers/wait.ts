/**
 * Deadlines for everything a test waits on. A wait that cannot end fails, once its deadline has
 * passed, with a message that names what was awaited, instead of hanging until jest's own
 * timeout says only "Exceeded timeout of 30000 ms for a test".
 */

/** What every wait of these helpers throws when its deadline passes. */
export class DeadlineError extends Error {
  override name = 'DeadlineError';
}

/** The error of a wait for `what` whose deadline of `ms` has passed (with `detail` on the next lines). */
export function timedOut(what: string, ms: number, detail?: string): DeadlineError {
  return new DeadlineError(`timed out after ${ms} ms waiting for ${what}${withDetail(detail)}`);
}

const withDetail = (detail: string | undefined): string => (detail === undefined || detail === '' ? '' : `\n${detail}`);

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Settles as `promise` does, or rejects with a DeadlineError naming `what` once `ms` have passed
 * (the timer is cleared either way, so it never keeps jest waiting).
 * `what` reads after "waiting for": e.g. 'the service to exit'.
 */
export async function withinDeadline<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(timedOut(what, ms)), ms);
  });
  try {
    return await Promise.race([promise, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

export interface WaitForOptions {
  /** How long to keep checking. */
  timeoutMs: number;
  /** What is awaited, read after "waiting for": e.g. 'redis-server on port 6390 to stop'. */
  what: string;
  /** Pause between two checks (25 ms unless told). */
  intervalMs?: number;
  /** Called when the deadline passes; its text is added to the error (e.g. a process's output). */
  detail?: () => string;
  /** A reason to give up at once (e.g. the process being waited on has exited), or undefined. */
  giveUpIf?: () => string | undefined;
}

/**
 * Checks `check` until it answers true, and fails with a DeadlineError naming `what` once
 * `timeoutMs` have passed. A check that itself hangs is bounded by the same deadline.
 */
export async function waitFor(check: () => boolean | Promise<boolean>, opts: WaitForOptions): Promise<void> {
  const { timeoutMs, what, intervalMs = 25 } = opts;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const reason = opts.giveUpIf?.();
    if (reason !== undefined) throw new Error(`gave up waiting for ${what}: ${reason}${withDetail(opts.detail?.())}`);
    const left = deadline - Date.now();
    const done =
      left > 0 &&
      (await withinDeadline(Promise.resolve(check()), left, what).catch((err: unknown) => {
        if (err instanceof DeadlineError) return false;
        throw err;
      }));
    if (done) return;
    if (Date.now() >= deadline) throw timedOut(what, timeoutMs, opts.detail?.());
    await sleep(Math.min(intervalMs, deadline - Date.now()));
  }
}
