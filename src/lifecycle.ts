/** The process's place in its life, shared by the readiness check and the request context. */
export interface Lifecycle {
  /** Set on SIGTERM/SIGINT: readiness answers 503 from then on. */
  shuttingDown: boolean;
}
