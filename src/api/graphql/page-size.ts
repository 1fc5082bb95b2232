import { TrellisError } from '../../errors/trellis-error.js';

/** The largest `first` any connection accepts. */
export const MAX_PAGE_SIZE = 100;

/** Checks a `first` argument: an integer from 1 to MAX_PAGE_SIZE. */
export function pageSize(first: number, pointer: string): number {
  if (!Number.isInteger(first) || first < 1 || first > MAX_PAGE_SIZE) {
    throw new TrellisError('TRELLIS_ERR_VALIDATION', { pointer, reason: `must be between 1 and ${MAX_PAGE_SIZE}` }, { details: { pointer } });
  }
  return first;
}
