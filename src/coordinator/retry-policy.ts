/** Exponential backoff between attempts of a run that failed with a transient error. */
export interface RetryPolicy {
  /** Delay before the second attempt (default 1000 ms); it doubles per attempt. */
  readonly baseDelayMs: number;
  /** Upper bound of one delay (default 5 minutes). */
  readonly maxDelayMs: number;
  /**
   * Fraction of the delay that is random, 0…1 (default 0.2): the delay is drawn from
   * [d × (1 − jitter), d], so replicas retrying the same failure spread out. 0 makes delays exact.
   */
  readonly jitter: number;
}

export const defaultRetryPolicy: RetryPolicy = Object.freeze({ baseDelayMs: 1_000, maxDelayMs: 5 * 60_000, jitter: 0.2 });

/** Delay after failed attempt number `attempt` (1-based): min(max, base × 2^(attempt−1)), less up to `jitter` of it. */
export function retryDelayMs(attempt: number, policy: RetryPolicy, random: () => number = Math.random): number {
  const exponential = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.max(0, attempt - 1));
  const jitter = Math.min(Math.max(policy.jitter, 0), 1);
  return Math.round(exponential * (1 - jitter * random()));
}
