import { onlineValueStatus, type OnlineValue, type OnlineValueStatus } from '../spi/online-store.js';

/** Where a group of features read together goes in the response rows, with each feature's ttl (seconds). */
export interface CellGroup {
  readonly positions: readonly number[];
  readonly ttls: readonly (number | undefined)[];
}

/** A decoded cell of an online store or of a stream feature's tiles. */
export interface ServedCell {
  readonly value: OnlineValue;
  readonly eventTs: number;
}

/**
 * Writes decoded cells (`cells[row][i]` for `group.positions[i]`) into response rows: no cell → NOT_FOUND, past the
 * ttl → OUTSIDE_MAX_AGE, null value → NULL_VALUE, else PRESENT with the value (timestamps as ISO text). The event
 * time is written whenever there is a cell. For tiles the event time is the window end (aggregations) or the
 * value's event time (`last`), so a feature ttl applies to `last` values.
 */
export function placeCells(
  cells: readonly (readonly (ServedCell | null)[])[],
  group: CellGroup,
  results: readonly { values: unknown[]; statuses: OnlineValueStatus[]; eventTimestamps: (number | null)[] }[],
  nowMs: number,
): void {
  for (let r = 0; r < cells.length; r++) {
    const row = cells[r]!;
    const out = results[r]!;
    for (let t = 0; t < group.positions.length; t++) {
      const cell = row[t] ?? null;
      const at = group.positions[t]!;
      const status = onlineValueStatus(cell, group.ttls[t], nowMs);
      out.statuses[at] = status;
      if (cell) {
        out.eventTimestamps[at] = cell.eventTs;
        if (status === 'PRESENT') out.values[at] = cell.value instanceof Date ? cell.value.toISOString() : cell.value;
      }
    }
  }
}
