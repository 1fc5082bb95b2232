import { PermanentError } from '../task-errors.js';

/** Parameters the batch tasks understand (`POST /v1/{kind}/{name}/{variant}/runs` body `params`). */
export interface BatchTaskParams {
  /** Ignore the previous watermark: recompute everything (late data, a wiped online store). */
  readonly full: boolean;
  /** The instant the task computes "as of" (default: when the attempt starts). ISO-8601. */
  readonly asOf: Date | undefined;
}

export function taskParams(params: Readonly<Record<string, unknown>>): BatchTaskParams {
  const full = params.full;
  if (full !== undefined && typeof full !== 'boolean') throw new PermanentError('params.full must be a boolean');
  let asOf: Date | undefined;
  if (params.asOf !== undefined) {
    asOf = typeof params.asOf === 'string' ? new Date(params.asOf) : new Date(Number.NaN);
    if (Number.isNaN(asOf.getTime())) throw new PermanentError('params.asOf must be an ISO-8601 instant');
  }
  return { full: full === true, asOf };
}

/** A previous run's watermark as an instant; null when absent or not an instant (then the task runs in full). */
export function readWatermark(watermark: string | null): Date | null {
  if (watermark === null) return null;
  const date = new Date(watermark);
  return Number.isNaN(date.getTime()) ? null : date;
}
