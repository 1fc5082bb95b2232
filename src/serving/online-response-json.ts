/**
 * The JSON text of the online read response (`{ features, results: [{ values, statuses, eventTimestamps }] }`),
 * written by hand for its fixed shape instead of through a generic schema serializer. Two ways in:
 *
 * - {@link serializeOnlineResult}: a typed {@link OnlineReadResult} (stores that hand out decoded cells, on-demand
 *   features). Gives text that `JSON.parse`s to what `JSON.stringify` of the same object gives.
 * - {@link OnlineJsonRows} + {@link writeEncodedCells}: cells in their stored text (`<eventTs>:<tag><payload>`, the
 *   Redis store). A float cell's payload is already the shortest round-trip decimal of its value, so when it is a
 *   plain JSON number it goes into the response as it is — no string → double → string per cell. The event time's
 *   digits likewise. Everything else (strings, ints, bools, timestamps, float lists, `-0`, NaN, exponents, text that
 *   is not canonical) takes the typed route, so the text parses to exactly what the typed path serves.
 */
import { decodeOnlineCell, onlineValueStatus, type OnlineValueStatus } from '../spi/online-store.js';
import type { OnlineReadResult, ServedValue } from './online-reader.js';

const STATUS_JSON: Readonly<Record<OnlineValueStatus, string>> = {
  PRESENT: '"PRESENT"',
  NULL_VALUE: '"NULL_VALUE"',
  NOT_FOUND: '"NOT_FOUND"',
  OUTSIDE_MAX_AGE: '"OUTSIDE_MAX_AGE"',
};
const PRESENT = STATUS_JSON.PRESENT;
const NULL_VALUE = STATUS_JSON.NULL_VALUE;
const NOT_FOUND = STATUS_JSON.NOT_FOUND;
const OUTSIDE_MAX_AGE = STATUS_JSON.OUTSIDE_MAX_AGE;

/** JSON text of a served value, as `JSON.stringify` writes it inside an array (NaN and ±Infinity → null). */
export function servedValueJson(value: ServedValue | undefined): string {
  switch (typeof value) {
    case 'number':
      return Number.isFinite(value) ? `${value}` : 'null';
    case 'string':
      return JSON.stringify(value);
    case 'boolean':
      return value ? 'true' : 'false';
    default:
      return value === null || value === undefined ? 'null' : (JSON.stringify(value) ?? 'null');
  }
}

const timestampJson = (ts: number | null | undefined): string => (typeof ts === 'number' && Number.isFinite(ts) ? `${ts}` : 'null');

/** The response text of a typed result. */
export function serializeOnlineResult(result: OnlineReadResult, featuresJson = JSON.stringify(result.features)): string {
  let out = `{"features":${featuresJson},"results":[`;
  const { results } = result;
  for (let r = 0; r < results.length; r++) {
    const { values, statuses, eventTimestamps } = results[r]!;
    const width = values.length;
    let v = '';
    let s = '';
    let t = '';
    for (let k = 0; k < width; k++) {
      const sep = k === 0 ? '' : ',';
      v += sep + servedValueJson(values[k]);
      s += sep + STATUS_JSON[statuses[k]!];
      t += sep + timestampJson(eventTimestamps[k]);
    }
    out += `${r === 0 ? '' : ','}{"values":[${v}],"statuses":[${s}],"eventTimestamps":[${t}]}`;
  }
  return `${out}]}`;
}

/**
 * The three JSON fragments (value, status, event time) of every cell of a response, row-major
 * (`row * width + position`), filled by {@link writeEncodedCells} per store call and joined by {@link toJson}.
 * Cells nobody writes stay NOT_FOUND (null value and event time).
 */
export class OnlineJsonRows {
  readonly rows: number;
  readonly width: number;
  readonly values: string[];
  readonly statuses: string[];
  readonly times: string[];

  constructor(rows: number, width: number) {
    this.rows = rows;
    this.width = width;
    const cells = rows * width;
    this.values = new Array<string>(cells).fill('null');
    this.statuses = new Array<string>(cells).fill(NOT_FOUND);
    this.times = new Array<string>(cells).fill('null');
  }

  toJson(featuresJson: string): string {
    const { rows, width, values, statuses, times } = this;
    let out = `{"features":${featuresJson},"results":[`;
    for (let r = 0; r < rows; r++) {
      const from = r * width;
      const to = from + width;
      let v = '';
      let s = '';
      let t = '';
      if (width > 0) {
        v = values[from]!;
        s = statuses[from]!;
        t = times[from]!;
        for (let k = from + 1; k < to; k++) {
          v += `,${values[k]!}`;
          s += `,${statuses[k]!}`;
          t += `,${times[k]!}`;
        }
      }
      out += `${r === 0 ? '' : ','}{"values":[${v}],"statuses":[${s}],"eventTimestamps":[${t}]}`;
    }
    return `${out}]}`;
  }
}

/**
 * Fills the fragments of one store call's cells: `rows[r][t]` is the stored text (or null) of the table at response
 * position `positions[t]` for entity row r; `ttls[t]` its ttl in seconds. Statuses as {@link onlineValueStatus}.
 * Throws (through {@link decodeOnlineCell}) on text that is not a cell, as the typed path does.
 */
export function writeEncodedCells(
  out: OnlineJsonRows,
  rows: readonly (readonly (string | null)[])[],
  positions: readonly number[],
  ttls: readonly (number | undefined)[],
  nowMs: number,
): void {
  const { width, values, statuses, times } = out;
  const tables = positions.length;
  for (let r = 0; r < rows.length; r++) {
    const row = rows[r]!;
    const base = r * width;
    for (let t = 0; t < tables; t++) {
      const text = row[t];
      if (text === null || text === undefined) continue; // NOT_FOUND: already there
      const at = base + positions[t]!;
      // The event time, parsed in place as decodeOnlineCell does (digits, optional leading '-', then ':').
      const n = text.length;
      const negative = text.charCodeAt(0) === 45; /* - */
      let i = negative ? 1 : 0;
      const digitsFrom = i;
      let magnitude = 0;
      for (; i < n; i++) {
        const digit = text.charCodeAt(i) - 48;
        if (!(digit >= 0 && digit <= 9)) break;
        magnitude = magnitude * 10 + digit;
      }
      const tag = i < n - 1 && i > digitsFrom && text.charCodeAt(i) === 58 /* : */ && Number.isSafeInteger(magnitude) ? text.charCodeAt(i + 1) : -1;
      let value: string;
      switch (tag) {
        case 102 /* f */:
          value = plainJsonNumberAt(text, i + 2) ? text.slice(i + 2) : servedValueJson(+text.slice(i + 2));
          break;
        case 115 /* s */:
          value = JSON.stringify(text.slice(i + 2));
          break;
        case 105 /* i */: {
          const digits = text.slice(i + 2);
          const int = +digits;
          value = Number.isSafeInteger(int) ? `${int}` : JSON.stringify(digits);
          break;
        }
        case 98 /* b */:
          value = text.charCodeAt(i + 2) === 49 ? 'true' : 'false';
          break;
        case 110 /* n */:
          value = 'null';
          break;
        default: {
          // timestamp, float_list, or not a cell (throws)
          const cell = decodeOnlineCell(text);
          const status = onlineValueStatus(cell, ttls[t], nowMs);
          statuses[at] = STATUS_JSON[status];
          times[at] = timestampJson(cell.eventTs);
          if (status === 'PRESENT') values[at] = servedValueJson(cell.value instanceof Date ? cell.value.toISOString() : (cell.value as ServedValue));
          continue;
        }
      }
      const eventTs = negative ? -magnitude : magnitude;
      // The digits as they are when canonical (no leading zero, no "-0"); otherwise the number's own text.
      times[at] = text.charCodeAt(digitsFrom) !== 48 || i === digitsFrom + 1 ? (negative && magnitude === 0 ? '0' : text.slice(0, i)) : `${eventTs}`;
      const ttl = ttls[t];
      if (ttl !== undefined && eventTs < nowMs - ttl * 1000) statuses[at] = OUTSIDE_MAX_AGE;
      else if (tag === 110) statuses[at] = NULL_VALUE;
      else {
        statuses[at] = PRESENT;
        values[at] = value;
      }
    }
  }
}

/**
 * True when `text` from `from` on is a JSON number that parses to the same double as `+text` and that
 * `JSON.stringify` would not write differently in value: `0` or `[1-9][0-9]{0,20}`, optionally negative
 * (but not `-0…`, which is the typed route's job), optionally `.` and digits. No exponent (rare: ≥ 1e21 or < 1e-6 go
 * the typed route), at most 21 integer digits (so never beyond the double range).
 */
export function plainJsonNumberAt(text: string, from: number): boolean {
  const n = text.length;
  let i = from;
  if (i < n && text.charCodeAt(i) === 45 /* - */) i++;
  if (i >= n) return false;
  let c = text.charCodeAt(i);
  if (c === 48 /* 0 */) {
    if (i > from) return false;
    i++;
  } else if (c >= 49 && c <= 57) {
    const start = i;
    do i++;
    while (i < n && (c = text.charCodeAt(i)) >= 48 && c <= 57);
    if (i - start > 21) return false;
  } else return false;
  if (i === n) return true;
  if (text.charCodeAt(i) !== 46 /* . */) return false;
  const fraction = ++i;
  while (i < n && (c = text.charCodeAt(i)) >= 48 && c <= 57) i++;
  return i === n && i > fraction;
}
