/**
 * The JSON text of the online read response (`{ features, results: [{ values, statuses, eventTimestamps }] }`),
 * written by hand for its fixed shape instead of through a generic schema serializer. Two ways in:
 *
 * - {@link serializeOnlineResult}: a typed {@link OnlineReadResult} (stores that hand out decoded cells, on-demand
 *   features). Gives text that `JSON.parse`s to what `JSON.stringify` of the same object gives.
 * - {@link encodedRowsJson}: cells in their stored text (`<eventTs>:<tag><payload>`, the
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
const { PRESENT, NULL_VALUE, NOT_FOUND, OUTSIDE_MAX_AGE } = STATUS_JSON;

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

// Status codes of the byte writer, and their JSON bytes.
const S_NOT_FOUND = 0;
const S_PRESENT = 1;
const S_NULL_VALUE = 2;
const S_OUTSIDE_MAX_AGE = 3;
const STATUS_BYTES = [NOT_FOUND, PRESENT, NULL_VALUE, OUTSIDE_MAX_AGE].map((text) => Buffer.from(text, 'latin1'));
const NULL_BYTES = Buffer.from('null', 'latin1');
const ROW_OPEN = Buffer.from('{"values":[', 'latin1');
const ROW_STATUSES = Buffer.from('],"statuses":[', 'latin1');
const ROW_TIMES = Buffer.from('],"eventTimestamps":[', 'latin1');
const ROW_CLOSE = Buffer.from(']}', 'latin1');
const ROW_OPEN_AFTER = Buffer.from(',{"values":[', 'latin1');

let scratchStatus = new Uint8Array(4096);
let scratchTsEnd = new Int32Array(4096);

/** The bytes before the first row: `{"features":[…],"results":[` (once per plan). */
export function onlineJsonHead(featuresJson: string): Buffer {
  return Buffer.from(`{"features":${featuresJson},"results":[`, 'utf8');
}

/**
 * Puts the rows of one store call (`rows[r][t]`, table t at response position `positions[t]`) into the response's
 * rows (`into[r][position]`, `width` wide, created on first use) — for reads that take more than one store call.
 */
export function placeEncodedRows(into: (string | null)[][], rows: readonly (readonly (string | null)[])[], positions: readonly number[], width: number): void {
  for (let r = 0; r < rows.length; r++) {
    const row = rows[r]!;
    const out = (into[r] ??= new Array<string | null>(width).fill(null));
    for (let t = 0; t < positions.length; t++) out[positions[t]!] = row[t] ?? null;
  }
}

/**
 * The response text for cells in their stored text (written as UTF-8 bytes into a reused buffer): `rows[r][k]` is the cell of response position k for entity
 * row r (null: not found), `ttls[k]` its ttl in seconds; `head` from {@link onlineJsonHead}. Statuses as
 * {@link onlineValueStatus}; values as the typed path serves them. Throws (through {@link decodeOnlineCell}) on
 * text that is not a cell, as the typed path does.
 */
export function encodedRowsJson(head: Buffer, rows: readonly (readonly (string | null | undefined)[])[], ttls: readonly (number | undefined)[], nowMs: number): string {
  const width = ttls.length;
  const cells = rows.length * width;
  // Per cell: status, where the event-time digits end (0: the typed text in `times`). Scratch arrays shared by all
  // calls (this function does not yield), cleared for the cells used.
  if (scratchStatus.length < cells) {
    scratchStatus = new Uint8Array(cells * 2);
    scratchTsEnd = new Int32Array(cells * 2);
  } else {
    scratchStatus.fill(0, 0, cells);
    scratchTsEnd.fill(0, 0, cells);
  }
  const status = scratchStatus;
  const tsEnd = scratchTsEnd;
  const times: string[] = [];
  const w = ByteWriter.shared(head.length + 64 + cells * 48);
  w.block(head);
  // Small functions per row part: one big function with cold branches keeps deoptimizing in its loop.
  for (let r = 0; r < rows.length; r++) {
    const row = rows[r]!;
    const base = r * width;
    w.bytes(r === 0 ? ROW_OPEN : ROW_OPEN_AFTER);
    const allPresent = writeValues(w, row, width, base, ttls, nowMs, status, tsEnd, times);
    w.bytes(ROW_STATUSES);
    if (allPresent && width > 0) w.block(allPresentJson(width));
    else writeStatuses(w, width, base, status);
    w.bytes(ROW_TIMES);
    writeTimes(w, row, width, base, status, tsEnd, times);
    w.bytes(ROW_CLOSE);
  }
  w.byte(93 /* ] */);
  w.byte(125 /* } */);
  return w.done();
}

/**
 * The values of one row, parsing each cell once: its status and event time are kept for the two arrays after.
 * True when every value is PRESENT.
 */
function writeValues(
  w: ByteWriter,
  row: readonly (string | null | undefined)[],
  width: number,
  base: number,
  ttls: readonly (number | undefined)[],
  nowMs: number,
  status: Uint8Array,
  tsEnd: Int32Array,
  times: string[],
): boolean {
  let allPresent = true;
  for (let k = 0; k < width; k++) {
    if (k > 0) w.byte(44 /* , */);
    const text = row[k];
    if (text === null || text === undefined) {
      allPresent = false;
      w.bytes(NULL_BYTES);
      continue;
    }
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
    if (tag !== 102 /* f */ && tag !== 110 /* n */ && tag !== 115 /* s */ && tag !== 105 /* i */ && tag !== 98 /* b */) {
      // timestamp, float_list, or not a cell (throws)
      if (!writeDecoded(w, text, ttls[k], nowMs, status, base + k, times)) allPresent = false;
      continue;
    }
    const eventTs = negative ? -magnitude : magnitude;
    // The digits as they are when canonical (no leading zero, no "-0"); otherwise the number's own text.
    if (text.charCodeAt(digitsFrom) !== 48 || (i === digitsFrom + 1 && !negative)) tsEnd[base + k] = i;
    else times[base + k] = `${eventTs === 0 ? 0 : eventTs}`;
    const ttl = ttls[k];
    if (ttl !== undefined && eventTs < nowMs - ttl * 1000) {
      status[base + k] = S_OUTSIDE_MAX_AGE;
      allPresent = false;
      w.bytes(NULL_BYTES);
    } else if (tag === 102) {
      status[base + k] = S_PRESENT;
      if (!w.plainNumber(text, i + 2)) w.text(servedValueJson(+text.slice(i + 2)));
    } else if (tag === 110) {
      status[base + k] = S_NULL_VALUE;
      allPresent = false;
      w.bytes(NULL_BYTES);
    } else {
      status[base + k] = S_PRESENT;
      w.text(otherValueJson(text, tag, i + 2));
    }
  }
  return allPresent;
}

/** A string, int or bool cell's value (tag `s`, `i`, `b`; payload from `from`) as the typed path serves it. */
function otherValueJson(text: string, tag: number, from: number): string {
  if (tag === 115 /* s */) return JSON.stringify(text.slice(from));
  if (tag === 98 /* b */) return text.charCodeAt(from) === 49 ? 'true' : 'false';
  const digits = text.slice(from);
  const int = +digits;
  return Number.isSafeInteger(int) ? `${int}` : JSON.stringify(digits);
}

/** A cell through {@link decodeOnlineCell} (timestamps, float lists; throws on text that is not a cell); true when PRESENT. */
function writeDecoded(w: ByteWriter, text: string, ttl: number | undefined, nowMs: number, status: Uint8Array, at: number, times: string[]): boolean {
  const cell = decodeOnlineCell(text);
  const s = onlineValueStatus(cell, ttl, nowMs);
  status[at] = s === 'PRESENT' ? S_PRESENT : s === 'NULL_VALUE' ? S_NULL_VALUE : S_OUTSIDE_MAX_AGE;
  times[at] = timestampJson(cell.eventTs);
  w.text(s === 'PRESENT' ? servedValueJson(cell.value instanceof Date ? cell.value.toISOString() : (cell.value as ServedValue)) : 'null');
  return s === 'PRESENT';
}

const allPresentBlocks: Buffer[] = [];

/** `"PRESENT","PRESENT",…` for a row of `width` values, built once per width. */
function allPresentJson(width: number): Buffer {
  return (allPresentBlocks[width] ??= Buffer.from(new Array<string>(width).fill(PRESENT).join(','), 'latin1'));
}

function writeStatuses(w: ByteWriter, width: number, base: number, status: Uint8Array): void {
  for (let k = 0; k < width; k++) {
    if (k > 0) w.byte(44);
    w.bytes(STATUS_BYTES[status[base + k]!]!);
  }
}

function writeTimes(w: ByteWriter, row: readonly (string | null | undefined)[], width: number, base: number, status: Uint8Array, tsEnd: Int32Array, times: string[]): void {
  for (let k = 0; k < width; k++) {
    if (k > 0) w.byte(44);
    const end = tsEnd[base + k]!;
    if (end > 0) w.ascii(row[k]!, 0, end);
    else if (status[base + k] === S_NOT_FOUND) w.bytes(NULL_BYTES);
    else w.text(times[base + k]!);
  }
}

/** The writer's buffer is kept between answers up to this size (larger ones are built in a buffer of their own). */
const KEPT_BUFFER_BYTES = 4 * 1024 * 1024;

/** Appends bytes to a growing buffer. */
class ByteWriter {
  #buf: Buffer;
  #pos = 0;

  static #kept: ByteWriter | undefined;

  private constructor(size: number) {
    this.#buf = Buffer.allocUnsafe(size);
  }

  /**
   * The one writer of this process, emptied, with room for `size` bytes to start with: answers are written one at a
   * time (nothing here yields) and leave as a string, so one buffer serves them all instead of a fresh external
   * allocation per answer (which makes V8 collect the old generation more often under load).
   */
  static shared(size: number): ByteWriter {
    let writer = ByteWriter.#kept;
    if (writer === undefined || writer.#buf.length > KEPT_BUFFER_BYTES) writer = ByteWriter.#kept = new ByteWriter(Math.min(Math.max(size, 64 * 1024), KEPT_BUFFER_BYTES));
    writer.#pos = 0;
    return writer;
  }

  #grow(need: number): void {
    const next = Buffer.allocUnsafe(Math.max(this.#buf.length * 2, this.#pos + need));
    this.#buf.copy(next, 0, 0, this.#pos);
    this.#buf = next;
  }

  byte(b: number): void {
    if (this.#pos >= this.#buf.length) this.#grow(1);
    this.#buf[this.#pos++] = b;
  }

  bytes(src: Buffer): void {
    const n = src.length;
    if (this.#pos + n > this.#buf.length) this.#grow(n);
    const buf = this.#buf;
    let pos = this.#pos;
    for (let i = 0; i < n; i++) buf[pos++] = src[i]!;
    this.#pos = pos;
  }

  /** A whole buffer, copied natively. */
  block(src: Buffer): void {
    if (this.#pos + src.length > this.#buf.length) this.#grow(src.length);
    src.copy(this.#buf, this.#pos);
    this.#pos += src.length;
  }

  /** Characters [from, to) of a string known to be ASCII. */
  ascii(text: string, from: number, to: number): void {
    if (this.#pos + (to - from) > this.#buf.length) this.#grow(to - from);
    const buf = this.#buf;
    let pos = this.#pos;
    for (let i = from; i < to; i++) buf[pos++] = text.charCodeAt(i);
    this.#pos = pos;
  }

  /** Any string, as UTF-8. */
  text(text: string): void {
    if (this.#pos + text.length * 3 > this.#buf.length) this.#grow(text.length * 3);
    this.#pos += this.#buf.write(text, this.#pos, 'utf8');
  }

  /**
   * Copies `text` from `from` on when it is a plain JSON number ({@link plainJsonNumberAt}), checking while copying;
   * false (and nothing written) otherwise.
   */
  plainNumber(text: string, from: number): boolean {
    const n = text.length;
    if (this.#pos + (n - from) > this.#buf.length) this.#grow(n - from);
    const buf = this.#buf;
    const start = this.#pos;
    let pos = start;
    let i = from;
    let c = i < n ? text.charCodeAt(i) : -1;
    if (c === 45 /* - */) {
      buf[pos++] = c;
      c = ++i < n ? text.charCodeAt(i) : -1;
      if (c === 48) return false; // "-0…": the typed route
    }
    if (c === 48 /* 0 */) {
      buf[pos++] = c;
      i++;
    } else if (c >= 49 && c <= 57) {
      const intFrom = i;
      do {
        buf[pos++] = c;
        c = ++i < n ? text.charCodeAt(i) : -1;
      } while (c >= 48 && c <= 57);
      if (i - intFrom > 21) return false;
    } else return false;
    if (i < n) {
      if (text.charCodeAt(i) !== 46 /* . */) return false;
      buf[pos++] = 46;
      const fraction = ++i;
      for (; i < n; i++) {
        c = text.charCodeAt(i);
        if (!(c >= 48 && c <= 57)) return false;
        buf[pos++] = c;
      }
      if (i === fraction) return false;
    }
    this.#pos = pos;
    return true;
  }

  /** What was written, as a string (the buffer is reused by the next answer). */
  done(): string {
    return this.#buf.toString('utf8', 0, this.#pos);
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
