import { errorCatalogue, type ErrorCode } from './error-catalogue.js';

/** Tag used instead of `instanceof`, so errors raised by a bundled copy of the SPI are still recognised. */
const TRELLIS_ERROR = Symbol.for('trellis.error');

export type ErrorParams = Readonly<Record<string, string | number>>;

/**
 * An HTTP-free business error with a catalogue code. `details` carries structured data for clients
 * (field diffs, dependents, the JSON pointer of a bad field); `cause` keeps the underlying error.
 */
export class TrellisError extends Error {
  readonly [TRELLIS_ERROR] = true;
  readonly code: ErrorCode;
  readonly params: ErrorParams;
  readonly details: Readonly<Record<string, unknown>> | undefined;

  constructor(code: ErrorCode, params: ErrorParams = {}, options: { details?: Record<string, unknown>; cause?: unknown } = {}) {
    super(formatMessage(code, params), options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'TrellisError';
    this.code = code;
    this.params = params;
    this.details = options.details;
  }

  get status(): number {
    return errorCatalogue[this.code].status;
  }
}

export function isTrellisError(value: unknown): value is TrellisError {
  return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[TRELLIS_ERROR] === true;
}

export function formatMessage(code: ErrorCode, params: ErrorParams): string {
  return errorCatalogue[code].message.replace(/\{(\w+)\}/g, (whole, key: string) =>
    key in params ? String(params[key]) : whole,
  );
}

export const notFound = (kind: string, ref: string) => new TrellisError('TRELLIS_ERR_NOT_FOUND', { kind, ref });
export const invalidDefinition = (pointer: string, reason: string) =>
  new TrellisError('TRELLIS_ERR_INVALID_DEFINITION', { pointer, reason }, { details: { pointer } });
