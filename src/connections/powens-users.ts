import { AppError } from '../errors.js';
import type { Logger } from '../logging.js';
import type { Metrics } from '../metrics.js';
import type { PowensClient } from '../powens/client.js';

/** Why the service came to hold a new Powens user's token (powens_users_created_total). */
export type CreateReason = 'exchange' | 'init';

/** Why the service deletes a Powens user (powens_users_deleted_total). */
export type DeleteReason = 'refused_callback' | 'link_race' | 'store_failed' | 'unconfirmed_write' | 'unlink' | 'init_race';

/** What an attempt of background work concluded: finished (well or for good), or to be tried again. */
export type Step = 'done' | 'again';

/**
 * Waits between the attempts of background work: 0.5 s doubling to 1 min, about ten minutes in
 * all. Long enough to outlast a Redis failover or a Powens incident, short enough that a user
 * who comes back finds the outcome settled.
 */
export const RETRY_DELAYS_MS: readonly number[] = [
  500, 1000, 2000, 4000, 8000, 15_000, 30_000, 30_000, 60_000, 60_000, 60_000, 60_000, 60_000, 60_000, 60_000, 60_000,
];

/**
 * Work a request could not finish and that must not be dropped: the outcome of a token write
 * whose answer was lost, the deletion of a Powens user nobody will use. Each job is tried again
 * after each delay while it answers 'again' (or throws), then given up with an error line that
 * names what is left (the Powens user id), so an operator can finish it.
 *
 * It lives in this process: a process that dies meanwhile (a crash, a kill) leaves its jobs
 * undone. A graceful stop drains it: every waiting job is tried once more at once, and what still
 * fails is logged at error with what it names (the Powens user id), for an operator to finish.
 * docs/REFERENCE.md ("How a first token is stored") says what that leaves.
 */
export class Retrier {
  private readonly jobs = new Set<Promise<void>>();
  /** Cuts the waits short: set by drain(), so sleeping jobs make their last attempt now. */
  private readonly wakers = new Set<() => void>();
  private draining = false;

  constructor(
    private readonly logger: Logger,
    private readonly delaysMs: readonly number[] = RETRY_DELAYS_MS,
  ) {}

  /**
   * Runs `attempt` now (`first: 'now'`) or after the first delay (`'later'`). Resolves once the
   * first attempt has ended (at once for 'later'); the retries go on in the background.
   * `detail` names what the job is about in its log lines (read anew for each: ids learnt on the way).
   */
  start(what: string, detail: () => Record<string, unknown>, attempt: () => Promise<Step>, first: 'now' | 'later'): Promise<void> {
    let firstDone: () => void = () => undefined;
    const firstAttempt = new Promise<void>((resolve) => (firstDone = resolve));
    const job = (async () => {
      let attempts = 0;
      for (let n = first === 'now' ? 0 : 1; ; n++) {
        if (n > 0) {
          const delay = this.delaysMs[n - 1];
          if (delay === undefined) {
            this.logger.error({ ...detail(), job: what, attempts }, 'background work given up: what it names is left as it is');
            return;
          }
          if (this.draining) {
            this.logger.error({ ...detail(), job: what, attempts }, 'background work left undone at stop: what it names is left as it is');
            return;
          }
          if (n === 1) this.logger.warn({ ...detail(), job: what }, 'background work scheduled');
          await this.sleep(delay);
        }
        let step: Step;
        try {
          attempts += 1;
          step = await attempt();
        } catch (err: unknown) {
          this.logger.warn({ ...detail(), job: what, errorCode: err instanceof AppError ? err.code : 'unknown' }, 'background work failed; will try again');
          step = 'again';
        }
        if (n === 0) firstDone();
        if (step === 'done') return;
      }
    })().finally(() => {
      firstDone();
      this.jobs.delete(job);
    });
    this.jobs.add(job);
    return first === 'now' ? firstAttempt : Promise.resolve();
  }

  /** Jobs not finished yet. */
  pending(): number {
    return this.jobs.size;
  }

  /** Resolves when every job has finished (or been given up). */
  async idle(): Promise<void> {
    while (this.jobs.size > 0) await Promise.allSettled([...this.jobs]);
  }

  /**
   * For a graceful stop: every job waiting between attempts makes one more attempt now, and a job
   * whose attempt fails again is logged as left undone instead of waiting. Resolves when no job is
   * left or after `budgetMs`, whichever comes first; returns how many are still running (each is
   * named in the log when it ends, if the process lives that long).
   */
  async drain(budgetMs: number): Promise<number> {
    this.draining = true;
    for (const wake of this.wakers) wake();
    let timer: NodeJS.Timeout | undefined;
    const budget = new Promise<void>((resolve) => (timer = setTimeout(resolve, budgetMs).unref()));
    await Promise.race([this.idle(), budget]);
    clearTimeout(timer);
    return this.jobs.size;
  }

  private sleep(ms: number): Promise<void> {
    // Never keeps the process alive by itself; drain() ends it early.
    return new Promise((resolve) => {
      const wake = (): void => {
        clearTimeout(timer);
        this.wakers.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, ms).unref();
      this.wakers.add(wake);
    });
  }
}

/**
 * Every Powens user the service comes to hold and lets go of is logged with its Powens id and
 * counted here: created (a callback code exchanged, or POST /auth/init) and each attempt to
 * delete one (DELETE /users/me with its own token).
 */
export class PowensUsers {
  constructor(
    private readonly powens: PowensClient,
    private readonly metrics: Metrics,
    private readonly logger: Logger,
  ) {}

  created(powensUserId: number, reason: CreateReason): void {
    this.metrics.powensUsersCreated.inc({ reason });
    this.logger.info({ powensUserId, reason }, 'Powens user created');
  }

  /**
   * One attempt to delete the Powens user of `token`. 'again' when Powens could not be reached
   * or failed (a retry may succeed); 'done' when it is gone, or when no retry can help (the
   * token is refused: the user is gone already, or the token was revoked).
   */
  async delete(token: string, powensUserId: number | null, reason: DeleteReason): Promise<Step> {
    try {
      await this.powens.deleteUser(token);
      this.metrics.powensUsersDeleted.inc({ reason, outcome: 'ok' });
      this.logger.info({ powensUserId, reason }, 'Powens user deleted');
      return 'done';
    } catch (err: unknown) {
      const code = err instanceof AppError ? err.code : 'unknown';
      // A 404 on /users/me: the user is gone already (deleted by an earlier attempt whose answer was lost).
      const gone = err instanceof AppError && err.code === 'POWENS_TOKEN_INVALID' && err.logDetail?.status === 404;
      this.metrics.powensUsersDeleted.inc({ reason, outcome: gone ? 'ok' : 'failed' });
      if (gone) {
        this.logger.info({ powensUserId, reason }, 'Powens user deleted (it was gone already)');
        return 'done';
      }
      const final = err instanceof AppError && (err.code === 'POWENS_TOKEN_INVALID' || err.code === 'POWENS_REJECTED');
      this.logger.warn({ powensUserId, reason, errorCode: code, final }, 'could not delete a Powens user');
      return final ? 'done' : 'again';
    }
  }

  /** Revokes one token (DELETE /auth/token), leaving its Powens user: for a user someone is linked to. */
  async revoke(token: string, powensUserId: number): Promise<Step> {
    try {
      await this.powens.revokeToken(token);
      this.logger.info({ powensUserId }, 'Powens token revoked: its user is linked to an app user and is kept');
      return 'done';
    } catch (err: unknown) {
      const final = err instanceof AppError && (err.code === 'POWENS_TOKEN_INVALID' || err.code === 'POWENS_REJECTED');
      this.logger.warn({ powensUserId, errorCode: err instanceof AppError ? err.code : 'unknown', final }, 'could not revoke a Powens token');
      return final ? 'done' : 'again';
    }
  }
}
