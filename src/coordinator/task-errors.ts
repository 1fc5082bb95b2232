import { isTrellisError } from '../errors/trellis-error.js';
import type { ErrorCode } from '../errors/error-catalogue.js';

/**
 * How a failed attempt is treated: `transient` is retried with backoff until `max_attempts`; `permanent` fails
 * the run at once.
 *
 * Errors are tagged with `Symbol.for('trellis.task-error')` = `'transient' | 'permanent'` rather than recognised
 * with `instanceof`, so an adapter bundling its own copy of these classes (or tagging a vendor error in place
 * with {@link tagError}) is classified the same way.
 */
export type ErrorClass = 'transient' | 'permanent';

export const TASK_ERROR_TAG: unique symbol = Symbol.for('trellis.task-error') as never;

/** An error worth retrying: the task may succeed later (a dropped connection, a busy warehouse). */
export class TransientError extends Error {
  readonly [TASK_ERROR_TAG]: ErrorClass = 'transient';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'TransientError';
  }
}

/** An error that retrying cannot fix (invalid SQL, a missing table, bad configuration). */
export class PermanentError extends Error {
  readonly [TASK_ERROR_TAG]: ErrorClass = 'permanent';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'PermanentError';
  }
}

/** Tags an existing error (e.g. from a vendor SDK) in place and returns it. */
export function tagError<E extends object>(error: E, errorClass: ErrorClass): E {
  Object.defineProperty(error, TASK_ERROR_TAG, { value: errorClass, enumerable: false, configurable: true });
  return error;
}

/** SQLSTATE classes (or exact codes) that mean "try again": connection exceptions, insufficient resources,
 * operator intervention (admin shutdown, crash recovery), serialization failures, deadlocks, lock timeouts. */
const TRANSIENT_SQLSTATE = /^(08|53|57P)|^(40001|40P01|55P03|55006)$/;
const SQLSTATE = /^[0-9A-Z]{5}$/;
const TRANSIENT_SYSTEM_CODES = new Set([
  'ECONNRESET', 'ECONNREFUSED', 'ECONNABORTED', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'ENETDOWN', 'EAI_AGAIN', 'ENOTCONN',
]);
/** Driver messages without a code: pg after a dropped socket, ioredis with a closed connection. */
const TRANSIENT_MESSAGES = /connection terminated|terminating connection|not queryable|connection (is )?closed|timeout exceeded when trying to connect|socket hang up|server closed the connection/i;
/** DuckDB-style messages for errors in the statement itself. */
const PERMANENT_MESSAGES = /^(Parser|Binder|Catalog|Conversion|Invalid Input|Not implemented|Constraint) Error\b/;
const TRANSIENT_TRELLIS_CODES = new Set<ErrorCode>(['TRELLIS_ERR_PROVIDER_UNAVAILABLE', 'TRELLIS_ERR_ONLINE_UNAVAILABLE', 'TRELLIS_ERR_NOT_READY', 'TRELLIS_ERR_RATE_LIMITED']);

/**
 * Classifies an error, looking through its `cause` chain (and AggregateError members) for the first decisive
 * signal: an explicit tag; a Postgres SQLSTATE (08*, 53*, 57P*, 40001, 40P01, 55P03 transient; any other
 * SQLSTATE, e.g. 42601 syntax error, permanent); a network error code; a Trellis error code; a `retriable`
 * flag (kafkajs); known driver messages. Anything unrecognised is transient: it is retried, at most
 * `max_attempts` times.
 */
export function classifyError(error: unknown): ErrorClass {
  const seen = new Set<unknown>();
  const visit = (value: unknown, depth: number): ErrorClass | null => {
    if (value === null || typeof value !== 'object' || seen.has(value) || depth > 8) return null;
    seen.add(value);
    const tagged = (value as Record<symbol, unknown>)[TASK_ERROR_TAG];
    if (tagged === 'transient' || tagged === 'permanent') return tagged;
    const record = value as { code?: unknown; retriable?: unknown; message?: unknown; cause?: unknown; errors?: unknown };
    if (isTrellisError(value)) return TRANSIENT_TRELLIS_CODES.has(value.code) ? 'transient' : 'permanent';
    if (typeof record.code === 'string') {
      if (TRANSIENT_SYSTEM_CODES.has(record.code)) return 'transient';
      if (SQLSTATE.test(record.code)) return TRANSIENT_SQLSTATE.test(record.code) ? 'transient' : 'permanent';
    }
    if (typeof record.retriable === 'boolean') return record.retriable ? 'transient' : 'permanent';
    const fromCause = visit(record.cause, depth + 1);
    if (fromCause) return fromCause;
    if (Array.isArray(record.errors)) {
      for (const inner of record.errors) {
        const found = visit(inner, depth + 1);
        if (found) return found;
      }
    }
    if (typeof record.message === 'string') {
      if (PERMANENT_MESSAGES.test(record.message)) return 'permanent';
      if (TRANSIENT_MESSAGES.test(record.message)) return 'transient';
    }
    return null;
  };
  return visit(error, 0) ?? 'transient';
}

/** Why a task's AbortSignal fired. */
export type AbortCause = 'stop' | 'cancelled' | 'lease-lost';

const RUN_ABORTED = Symbol.for('trellis.run-aborted');

/** The `signal.reason` a task sees when its run is stopped, cancelled or its lease is lost. */
export class RunAbortedError extends Error {
  readonly [RUN_ABORTED] = true;
  readonly abortCause: AbortCause;
  constructor(abortCause: AbortCause, message: string) {
    super(message);
    this.name = 'RunAbortedError';
    this.abortCause = abortCause;
  }
}

export function isRunAborted(value: unknown): value is RunAbortedError {
  return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[RUN_ABORTED] === true;
}

export function errorMessage(error: unknown): string {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return typeof code === 'string' && code.length > 0 && !error.message.includes(code) ? `${error.message} (${code})` : error.message || error.name;
  }
  return String(error);
}
