/**
 * The online store contract: a key-value store that serves the latest value of each feature per entity key.
 *
 * Trellis materializes warehouse rows and stream aggregates into an online store and reads them back on the
 * serving path. This file is the whole contract an online adapter (built-in or plugin) implements, plus the
 * canonical encodings every adapter should share, so that two stores given the same writes answer the same reads:
 *
 * - {@link OnlineStore}: the role itself; {@link OnlineStoreBase}: an abstract base supplying capability defaults.
 * - {@link encodeEntityKey}: an unambiguous, typed encoding of (multi-column) entity keys.
 * - {@link normalizeOnlineValue} / {@link encodeOnlineCell} / {@link decodeOnlineCell}: the value model and a compact,
 *   self-describing text encoding of one cell (value + event time); `readEncoded` hands cells out in that form.
 * - {@link onlineValueStatus}: the one rule turning a cell + ttl into a serving status (ttl on every read path).
 * - {@link OnlineStoreError}: HTTP-free errors carrying a `TRELLIS_ERR_*` catalogue code.
 *
 * Nothing here is typed with a vendor SDK; objects are recognised by tags (`kind`, `Symbol.for`), never `instanceof`,
 * because a plugin may bundle its own copy of this file.
 *
 * @example
 * ```ts
 * import type { OnlineStore } from '../src/spi/online-store.js';
 *
 * async function serve(store: OnlineStore): Promise<void> {
 *   await store.ensureTable({ entity: 'user', table: 'age@default', valueType: 'int', ttlSeconds: 86_400 });
 *   await store.writeBatch('user', 'age@default', [{ key: ['u1'], value: 42, eventTs: Date.now() }]);
 *   const [row] = await store.read('user', [['u1']], ['age@default']);
 *   console.log(row?.[0]); // { value: 42, eventTs: 1700000000000 }
 * }
 * ```
 */
import { Buffer } from 'node:buffer';

/** The `kind` tag every online store carries; checked by {@link isOnlineStore} instead of `instanceof`. */
export const ONLINE_STORE_KIND = 'trellis.online-store';

/**
 * Value type of an online table. The same names as the registry's feature `valueType`.
 * `float_list` is a list of 64-bit floats (embeddings).
 */
export type OnlineValueType = 'string' | 'int' | 'float' | 'bool' | 'timestamp' | 'float_list';

/** Every {@link OnlineValueType}, in a fixed order. */
export const onlineValueTypes = ['string', 'int', 'float', 'bool', 'timestamp', 'float_list'] as const satisfies readonly OnlineValueType[];

/**
 * One part of an entity key. Parts are typed: `'1'` and `1` are different keys, so callers normalize request
 * values to the entity's declared key column type first. Integer-valued numbers and bigints are the same key
 * (`42 ≡ 42n`; use bigint or a string key column beyond ±2^53); non-integer numbers are allowed but discouraged;
 * timestamp key columns are passed as epoch milliseconds. Strings must be well-formed UTF-16 (no lone surrogates).
 */
export type EntityKeyValue = string | number | bigint | boolean;

/**
 * A value as read back from an online store, by table value type:
 * - `string`: string
 * - `int`: a number when it is a safe integer (|v| ≤ 2^53 − 1), otherwise its exact decimal string
 *   (`'9223372036854775807'`); int64 range
 * - `float`: number (every double, including NaN, ±Infinity and −0, round-trips exactly)
 * - `bool`: boolean
 * - `timestamp`: Date (millisecond precision; finer precision is truncated on write)
 * - `float_list`: number[] (every element round-trips exactly)
 * - any type: null (the value was null at the source: status NULL_VALUE, not NOT_FOUND)
 *
 * Read values are read-only: stores may hand out shared, frozen arrays.
 */
export type OnlineValue = string | number | boolean | Date | readonly number[] | null;

/**
 * What {@link OnlineStore.writeBatch} accepts, by table value type (anything else fails with TRELLIS_ERR_VALIDATION):
 * - `string`: string (well-formed UTF-16)
 * - `int`: safe-integer number, bigint or decimal string (`/^-?\d+$/`), within int64
 * - `float`: number
 * - `bool`: boolean
 * - `timestamp`: Date or epoch milliseconds (number; fractions truncated)
 * - `float_list`: array of numbers, Float32Array or Float64Array
 * - any type: null
 */
export type OnlineWriteValue = OnlineValue | bigint | Float32Array | Float64Array;

/** One stored value with its event time (epoch milliseconds). `value: null` is a stored null. */
export interface OnlineCell {
  readonly value: OnlineValue;
  readonly eventTs: number;
}

/** Identifies an online table: a feature (`table`, usually `name@variant`) of one entity type. */
export interface OnlineTableRef {
  /** Entity type, `name` or `name@variant` (see {@link ONLINE_NAME_PATTERN}). */
  readonly entity: string;
  /** Table id within the entity, usually the feature id `name@variant` (see {@link ONLINE_NAME_PATTERN}). */
  readonly table: string;
}

/** An online table: where one feature's latest values per entity key live. */
export interface OnlineTableSpec extends OnlineTableRef {
  readonly valueType: OnlineValueType;
  /**
   * The feature's ttl (max age), seconds; absent = values never go stale. Serving compares it with each cell's event
   * time ({@link onlineValueStatus}); a store with `supportsTtlExpiry` also reclaims cells older than this.
   */
  readonly ttlSeconds?: number | undefined;
}

/** One row for {@link OnlineStore.writeBatch}. */
export interface OnlineWriteRow {
  /** Entity key parts, in the entity's key column order. */
  readonly key: readonly EntityKeyValue[];
  readonly value: OnlineWriteValue;
  /** Event time, epoch milliseconds (a safe integer). */
  readonly eventTs: number;
}

/** Outcome of {@link OnlineStore.writeBatch}; `written + skippedOlder` equals the number of rows. */
export interface OnlineWriteResult {
  /** Rows stored (including rows that replaced a value with an equal event time). */
  readonly written: number;
  /** Rows dropped because the stored value has a strictly newer event time. */
  readonly skippedOlder: number;
}

/** Serving status of one value (the REST response carries it per value). */
export type OnlineValueStatus = 'PRESENT' | 'NULL_VALUE' | 'NOT_FOUND' | 'OUTSIDE_MAX_AGE';

/**
 * The online store role. Every method may reject with an {@link OnlineStoreError}:
 * `TRELLIS_ERR_ONLINE_UNAVAILABLE` when the backing service cannot answer in time (reads fail fast and recover by
 * themselves once the service is back), `TRELLIS_ERR_VALIDATION` for bad names, keys or values,
 * `TRELLIS_ERR_NOT_FOUND` for writes to a table that was never ensured, `TRELLIS_ERR_CONFLICT` for an
 * {@link ensureTable} that contradicts the existing table.
 *
 * Consistency: each row write is atomic and compare-and-set on event time; a read of one entity key sees one
 * consistent snapshot of that key's tables. Nothing is promised across keys.
 */
export interface OnlineStore {
  /** Always {@link ONLINE_STORE_KIND}. */
  readonly kind: typeof ONLINE_STORE_KIND;
  /** The adapter id (kebab-case), e.g. `redis`, `embedded-online`. */
  readonly adapterId: string;

  /**
   * The store reclaims cells whose `eventTs + ttl` lies in the past, without being asked. Such cells may then read
   * as `null` (NOT_FOUND) instead of a stale cell (OUTSIDE_MAX_AGE). Never affects fresh cells. Default false.
   */
  readonly supportsTtlExpiry?: boolean;
  /** The store spreads entity keys over several shards (e.g. Redis Cluster). Default false. */
  readonly supportsCluster?: boolean;
  /**
   * Several processes may open the same store at once (e.g. `trellis serve` and a separate materializer).
   * When false, exactly one process owns the data. Default false.
   */
  readonly supportsSharedAccess?: boolean;
  /** Data survives a restart of the process (and of the backing service, if its own persistence is on). Default false. */
  readonly supportsPersistence?: boolean;

  /**
   * Creates the table or confirms it exists. Idempotent. An existing table with another `valueType` rejects with
   * TRELLIS_ERR_CONFLICT; a different `ttlSeconds` replaces the stored one (it is metadata: no cell changes).
   */
  ensureTable(spec: OnlineTableSpec): Promise<void>;

  /** The table's spec, or null when it does not exist. Reads the store's own metadata (not a local cache). */
  getTable(ref: OnlineTableRef): Promise<OnlineTableSpec | null>;

  /** Removes the table and all its cells. Idempotent. Writes racing with a drop may survive it. */
  dropTable(ref: OnlineTableRef): Promise<void>;

  /**
   * Writes rows into one table, each atomically and compare-and-set on event time: a row is stored unless the
   * stored cell for its key has a strictly newer `eventTs` (then it counts as `skippedOlder`). With equal event
   * times the later write wins — rows of one batch apply in array order; concurrent batches in arrival order.
   * The whole batch is validated before anything is written (TRELLIS_ERR_VALIDATION names the row). A table that
   * was never ensured rejects with TRELLIS_ERR_NOT_FOUND. Resolves once the rows are as durable as the store gets.
   */
  writeBatch(entity: string, table: string, rows: readonly OnlineWriteRow[]): Promise<OnlineWriteResult>;

  /**
   * Reads `tables` for each entity key: `result[i][j]` is the cell of `keys[i]` in `tables[j]`, or null when
   * absent (also for tables that do not exist). Order and duplicates of `keys` and `tables` are kept. Stale cells
   * are returned as stored: apply {@link onlineValueStatus} with each table's ttl. Fails fast with
   * TRELLIS_ERR_ONLINE_UNAVAILABLE (the adapter's configured timeout) when the service does not answer.
   * At most one round trip per entity key; many keys are pipelined.
   */
  read(entity: string, keys: readonly (readonly EntityKeyValue[])[], tables: readonly string[]): Promise<(OnlineCell | null)[][]>;

  /**
   * Like {@link read}, but each cell comes as its {@link encodeOnlineCell} text (`<eventTs>:<tag><payload>`), which
   * {@link decodeOnlineCell} turns into the cell `read` would return (an int may come back tagged as float or string
   * and still decode to the same value). For serving paths that want to skip per-cell objects — e.g. write JSON
   * straight from the text, or read the event time with {@link encodedCellEventTs} — on stores that keep cells
   * encoded (Redis hands back its replies untouched). Optional in the interface; {@link OnlineStoreBase} derives it
   * from `read`.
   */
  readEncoded?(entity: string, keys: readonly (readonly EntityKeyValue[])[], tables: readonly string[]): Promise<(string | null)[][]>;

  /**
   * Removes every table's cell for each key. Resolves to the number of keys that had data.
   * A later write of an older event is accepted again.
   */
  deleteEntity(entity: string, keys: readonly (readonly EntityKeyValue[])[]): Promise<number>;

  /** Flushes and releases connections, files and timers. Idempotent; every other method rejects afterwards. */
  close(): Promise<void>;
}

/**
 * Abstract base for online stores: supplies {@link ONLINE_STORE_KIND} and the capability defaults, so a capability
 * added later never breaks an adapter that extends it. Override a flag with `override get supportsX() { return true; }`.
 */
export abstract class OnlineStoreBase implements OnlineStore {
  readonly kind = ONLINE_STORE_KIND;
  abstract readonly adapterId: string;

  get supportsTtlExpiry(): boolean {
    return false;
  }
  get supportsCluster(): boolean {
    return false;
  }
  get supportsSharedAccess(): boolean {
    return false;
  }
  get supportsPersistence(): boolean {
    return false;
  }

  abstract ensureTable(spec: OnlineTableSpec): Promise<void>;
  abstract getTable(ref: OnlineTableRef): Promise<OnlineTableSpec | null>;
  abstract dropTable(ref: OnlineTableRef): Promise<void>;
  abstract writeBatch(entity: string, table: string, rows: readonly OnlineWriteRow[]): Promise<OnlineWriteResult>;
  abstract read(entity: string, keys: readonly (readonly EntityKeyValue[])[], tables: readonly string[]): Promise<(OnlineCell | null)[][]>;

  /** Default: {@link read} + {@link encodeReadCell}. Override when the store holds cells encoded already. */
  async readEncoded(entity: string, keys: readonly (readonly EntityKeyValue[])[], tables: readonly string[]): Promise<(string | null)[][]> {
    const rows = await this.read(entity, keys, tables);
    return rows.map((row) => row.map((cell) => (cell === null ? null : encodeReadCell(cell))));
  }

  abstract deleteEntity(entity: string, keys: readonly (readonly EntityKeyValue[])[]): Promise<number>;
  abstract close(): Promise<void>;
}

/** Capability flags of a store with their defaults applied (for stores that do not extend {@link OnlineStoreBase}). */
export interface OnlineStoreCapabilities {
  readonly supportsTtlExpiry: boolean;
  readonly supportsCluster: boolean;
  readonly supportsSharedAccess: boolean;
  readonly supportsPersistence: boolean;
}

/** Reads a store's capability flags, `false` where a flag is absent. */
export function onlineStoreCapabilities(store: OnlineStore): OnlineStoreCapabilities {
  return Object.freeze({
    supportsTtlExpiry: store.supportsTtlExpiry === true,
    supportsCluster: store.supportsCluster === true,
    supportsSharedAccess: store.supportsSharedAccess === true,
    supportsPersistence: store.supportsPersistence === true,
  });
}

/** True for any object tagged as an online store (works across copies of the SPI). */
export function isOnlineStore(value: unknown): value is OnlineStore {
  return typeof value === 'object' && value !== null && (value as { kind?: unknown }).kind === ONLINE_STORE_KIND;
}

/**
 * The serving status of a cell read at `nowMs` for a table with `ttlSeconds` — the same rule as the point-in-time
 * join: a value is fresh when `eventTs ≥ now − ttl` (inclusive). Order: no cell → NOT_FOUND; stale → OUTSIDE_MAX_AGE
 * (also for stored nulls); stored null → NULL_VALUE; else PRESENT. Event times in the future count as fresh.
 *
 * @example
 * ```ts
 * onlineValueStatus({ value: 1, eventTs: 0 }, 60, 61_000); // 'OUTSIDE_MAX_AGE'
 * ```
 */
export function onlineValueStatus(cell: OnlineCell | null, ttlSeconds: number | undefined, nowMs: number): OnlineValueStatus {
  if (cell === null) return 'NOT_FOUND';
  if (ttlSeconds !== undefined && cell.eventTs < nowMs - ttlSeconds * 1000) return 'OUTSIDE_MAX_AGE';
  return cell.value === null ? 'NULL_VALUE' : 'PRESENT';
}

// ---------------------------------------------------------------------------------------------------------------
// Errors

const ONLINE_STORE_ERROR = Symbol.for('trellis.online-store-error');

/** Parameters per code; the same names as the message templates of the Trellis error catalogue. */
export interface OnlineStoreErrorParams {
  TRELLIS_ERR_ONLINE_UNAVAILABLE: { provider: string; reason: string };
  TRELLIS_ERR_VALIDATION: { pointer: string; reason: string };
  TRELLIS_ERR_NOT_FOUND: { kind: string; ref: string };
  TRELLIS_ERR_CONFLICT: { kind: string; ref: string };
}

/** The catalogue codes an online store raises. */
export type OnlineStoreErrorCode = keyof OnlineStoreErrorParams;

const onlineStoreErrorMessages = {
  TRELLIS_ERR_ONLINE_UNAVAILABLE: (p) => `Online store ${p.provider} unavailable: ${p.reason}`,
  TRELLIS_ERR_VALIDATION: (p) => `Invalid request at ${p.pointer}: ${p.reason}`,
  TRELLIS_ERR_NOT_FOUND: (p) => `${p.kind} ${p.ref} not found`,
  TRELLIS_ERR_CONFLICT: (p) => `${p.kind} ${p.ref} already exists with a different definition`,
} satisfies { [C in OnlineStoreErrorCode]: (params: OnlineStoreErrorParams[C]) => string };

/**
 * An HTTP-free error from an online store. `code` is a Trellis catalogue code and `params` fill its message
 * template, so the edge maps it with `new TrellisError(e.code, e.params, { cause: e })`. Recognise it with
 * {@link isOnlineStoreError}, not `instanceof`.
 */
export class OnlineStoreError<C extends OnlineStoreErrorCode = OnlineStoreErrorCode> extends Error {
  readonly [ONLINE_STORE_ERROR] = true;
  readonly code: C;
  readonly params: Readonly<OnlineStoreErrorParams[C]>;

  constructor(code: C, params: OnlineStoreErrorParams[C], options?: { cause?: unknown }) {
    super((onlineStoreErrorMessages[code] as (p: OnlineStoreErrorParams[C]) => string)(params), options);
    this.name = 'OnlineStoreError';
    this.code = code;
    this.params = Object.freeze({ ...params });
  }
}

/** True for an {@link OnlineStoreError} from any copy of the SPI; optionally of one code. */
export function isOnlineStoreError<C extends OnlineStoreErrorCode>(value: unknown, code?: C): value is OnlineStoreError<C> {
  if (typeof value !== 'object' || value === null || (value as Record<symbol, unknown>)[ONLINE_STORE_ERROR] !== true) return false;
  return code === undefined || (value as { code?: unknown }).code === code;
}

/** A TRELLIS_ERR_ONLINE_UNAVAILABLE error for adapter `provider`. */
export function onlineUnavailable(provider: string, reason: string, cause?: unknown): OnlineStoreError<'TRELLIS_ERR_ONLINE_UNAVAILABLE'> {
  return new OnlineStoreError('TRELLIS_ERR_ONLINE_UNAVAILABLE', { provider, reason }, cause === undefined ? undefined : { cause });
}

function invalid(pointer: string, reason: string): OnlineStoreError<'TRELLIS_ERR_VALIDATION'> {
  return new OnlineStoreError('TRELLIS_ERR_VALIDATION', { pointer, reason });
}

// ---------------------------------------------------------------------------------------------------------------
// Names

/**
 * Entity and table names: a registry name, optionally with `@variant` (lower snake case, no `__`, ≤ 63 chars each).
 * Such names never contain `:`, `{`, `}` or `#`, which lets adapters build key layouts without escaping.
 */
export const ONLINE_NAME_PATTERN = /^(?!.*__)[a-z][a-z0-9_]{0,62}(@[a-z][a-z0-9_]{0,62})?$/;

const knownGoodNames = new Set<string>();

/** Throws TRELLIS_ERR_VALIDATION at `pointer` unless `name` matches {@link ONLINE_NAME_PATTERN}. */
export function assertOnlineName(name: string, pointer: string): void {
  if (knownGoodNames.has(name)) return;
  if (typeof name !== 'string' || !ONLINE_NAME_PATTERN.test(name)) {
    throw invalid(pointer, `${JSON.stringify(name)} is not a valid name (lower snake case, optional @variant)`);
  }
  if (knownGoodNames.size < 10_000) knownGoodNames.add(name);
}

/** Validates a table spec (names, value type, ttl) and returns a frozen copy without extra properties. */
export function normalizeOnlineTableSpec(spec: OnlineTableSpec): OnlineTableSpec {
  assertOnlineName(spec.entity, '/entity');
  assertOnlineName(spec.table, '/table');
  if (!(onlineValueTypes as readonly string[]).includes(spec.valueType)) {
    throw invalid('/valueType', `unknown value type ${JSON.stringify(spec.valueType)}`);
  }
  const ttl = spec.ttlSeconds;
  if (ttl !== undefined && !(Number.isSafeInteger(ttl) && ttl > 0)) {
    throw invalid('/ttlSeconds', 'ttlSeconds must be a positive integer');
  }
  return Object.freeze(ttl === undefined ? { entity: spec.entity, table: spec.table, valueType: spec.valueType } : { entity: spec.entity, table: spec.table, valueType: spec.valueType, ttlSeconds: ttl });
}

// ---------------------------------------------------------------------------------------------------------------
// Entity keys

const isWellFormed = (s: string): boolean => (s as unknown as { isWellFormed(): boolean }).isWellFormed();

/**
 * Encodes entity key parts into one string that is injective over typed key tuples — never plain concatenation.
 * Each part is `<type><length>:<payload>` with type `s` (string), `i` (integer: integer-valued number or bigint,
 * decimal), `f` (other finite number, shortest round-trip decimal) or `b` (boolean, `1`/`0`); the length counts
 * UTF-16 code units of the payload. So `['a:b', 1]` → `s3:a:bi1:1` and `['a', ':b1']` → `s1:as3::b1`.
 * Throws TRELLIS_ERR_VALIDATION (pointer `/<index>`) for an empty key, non-finite numbers, lone surrogates or
 * other types.
 */
export function encodeEntityKey(key: readonly EntityKeyValue[]): string {
  const n = key.length;
  if (n === 1) return encodeKeyPart(key[0], 0);
  if (n === 0) throw invalid('', 'an entity key needs at least one part');
  let out = '';
  for (let i = 0; i < n; i++) out += encodeKeyPart(key[i], i);
  return out;
}

function encodeKeyPart(part: EntityKeyValue | undefined, index: number): string {
  switch (typeof part) {
    case 'string':
      if (!isWellFormed(part)) throw invalid(`/${index}`, 'key strings must be well-formed UTF-16 (no lone surrogates)');
      return `s${part.length}:${part}`;
    case 'number': {
      if (!Number.isFinite(part)) throw invalid(`/${index}`, `key part ${String(part)} is not a finite number`);
      if (Number.isInteger(part)) {
        const digits = Number.isSafeInteger(part) ? String(part) : BigInt(part).toString();
        return `i${digits.length}:${digits}`;
      }
      const text = String(part);
      return `f${text.length}:${text}`;
    }
    case 'bigint': {
      const digits = part.toString();
      return `i${digits.length}:${digits}`;
    }
    case 'boolean':
      return part ? 'b1:1' : 'b1:0';
    default:
      throw invalid(`/${index}`, `key parts must be strings, numbers, bigints or booleans, not ${part === null ? 'null' : typeof part}`);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Values and cells

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const INT_TEXT = /^-?\d+$/;

/**
 * Checks `value` against `valueType` and returns its canonical read form ({@link OnlineValue}): ints become numbers
 * or exact decimal strings, timestamps Dates, float lists frozen number arrays. Throws TRELLIS_ERR_VALIDATION at
 * `pointer` when the value does not fit the type. Stores call it so that every adapter answers identically.
 */
export function normalizeOnlineValue(valueType: OnlineValueType, value: OnlineWriteValue, pointer = '/value'): OnlineValue {
  if (value === null) return null;
  switch (valueType) {
    case 'string':
      if (typeof value !== 'string') break;
      if (!isWellFormed(value)) throw invalid(pointer, 'strings must be well-formed UTF-16 (no lone surrogates)');
      return value;
    case 'int': {
      if (typeof value === 'number') {
        if (Number.isSafeInteger(value)) return value === 0 ? 0 : value;
        throw invalid(pointer, `${String(value)} is not a safe integer; pass larger ints as bigint or decimal string`);
      }
      let big: bigint;
      if (typeof value === 'bigint') big = value;
      else if (typeof value === 'string' && INT_TEXT.test(value)) big = BigInt(value);
      else break;
      if (big < INT64_MIN || big > INT64_MAX) throw invalid(pointer, `${big} is outside the int64 range`);
      const asNumber = Number(big);
      return Number.isSafeInteger(asNumber) ? asNumber : big.toString();
    }
    case 'float':
      if (typeof value !== 'number') break;
      return value;
    case 'bool':
      if (typeof value !== 'boolean') break;
      return value;
    case 'timestamp': {
      let ms: number;
      if (value instanceof Date) ms = value.getTime();
      else if (typeof value === 'number') ms = Math.trunc(value);
      else break;
      if (!(Math.abs(ms) <= 8.64e15)) throw invalid(pointer, 'invalid timestamp (NaN or beyond ±8.64e15 ms)');
      return new Date(ms === 0 ? 0 : ms);
    }
    case 'float_list': {
      if (Array.isArray(value)) {
        const out = new Array<number>(value.length);
        for (let i = 0; i < value.length; i++) {
          const x: unknown = value[i];
          if (typeof x !== 'number') throw invalid(`${pointer}/${i}`, 'float_list elements must be numbers');
          out[i] = x;
        }
        return Object.freeze(out);
      }
      if (value instanceof Float64Array || value instanceof Float32Array) return Object.freeze(Array.from(value));
      break;
    }
  }
  throw invalid(pointer, `expected ${valueType}, got ${describe(value)}`);
}

function describe(value: unknown): string {
  if (Array.isArray(value)) return 'array';
  if (value instanceof Date) return 'Date';
  return typeof value;
}

const littleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function encodeFloatList(list: readonly number[]): string {
  const buf = Buffer.from(Float64Array.from(list).buffer);
  if (!littleEndian) buf.swap64();
  return buf.toString('base64');
}

function decodeFloatList(text: string): number[] {
  let buf = Buffer.from(text, 'base64');
  if (buf.byteOffset % 8 !== 0 || !littleEndian) buf = Buffer.from(buf);
  if (!littleEndian) buf.swap64();
  return Array.from(new Float64Array(buf.buffer, buf.byteOffset, buf.length >>> 3));
}

/**
 * Encodes one cell as text: `<eventTs>:<tag><payload>`, with `eventTs` in decimal epoch ms and the tag naming the
 * type, so a cell decodes without its table's metadata: `s` string (raw), `i` int (decimal), `f` float
 * (`String(v)`, `-0` kept), `b` bool (`1`/`0`), `t` timestamp (decimal epoch ms), `a` float_list (base64 of
 * little-endian float64s), `n` null. Example: `1700000000000:i42`. `value` must already be normalized
 * ({@link normalizeOnlineValue}) for `valueType`; `eventTs` must be a safe integer.
 */
export function encodeOnlineCell(valueType: OnlineValueType, value: OnlineValue, eventTs: number): string {
  if (value === null) return `${eventTs}:n`;
  switch (valueType) {
    case 'string':
      return `${eventTs}:s${value as string}`;
    case 'int':
      return `${eventTs}:i${value as number | string}`;
    case 'float':
      return Object.is(value, -0) ? `${eventTs}:f-0` : `${eventTs}:f${value as number}`;
    case 'bool':
      return value === true ? `${eventTs}:b1` : `${eventTs}:b0`;
    case 'timestamp':
      return `${eventTs}:t${(value as Date).getTime()}`;
    case 'float_list':
      return `${eventTs}:a${encodeFloatList(value as readonly number[])}`;
  }
}

/**
 * Encodes a cell as read (no table metadata needed): numbers that are safe integers get the `i` tag, other numbers
 * `f`, exact-int strings stay `s` — each decodes back to an equal {@link OnlineValue}.
 */
export function encodeReadCell(cell: OnlineCell): string {
  const { value, eventTs } = cell;
  if (value === null) return `${eventTs}:n`;
  switch (typeof value) {
    case 'string':
      return `${eventTs}:s${value}`;
    case 'boolean':
      return value ? `${eventTs}:b1` : `${eventTs}:b0`;
    case 'number':
      return Number.isSafeInteger(value) && !Object.is(value, -0) ? `${eventTs}:i${value}` : encodeOnlineCell('float', value, eventTs);
    default:
      return value instanceof Date ? `${eventTs}:t${value.getTime()}` : `${eventTs}:a${encodeFloatList(value)}`;
  }
}

/** The event time of an encoded cell, without decoding (or allocating) its value; NaN for text that is not a cell. */
export function encodedCellEventTs(encoded: string): number {
  const negative = encoded.charCodeAt(0) === 45; /* - */
  let magnitude = 0;
  for (let i = negative ? 1 : 0; i < encoded.length; i++) {
    const digit = encoded.charCodeAt(i) - 48;
    if (digit === 10 /* : */) return negative ? -magnitude : magnitude;
    if (!(digit >= 0 && digit <= 9)) break;
    magnitude = magnitude * 10 + digit;
  }
  return Number.NaN;
}

/**
 * Decodes a cell produced by {@link encodeOnlineCell}. Throws a plain Error on text that is not a cell (a store
 * holding foreign data under its keys should surface that loudly).
 */
export function decodeOnlineCell(encoded: string): OnlineCell {
  // Hot path of every read: parse the event time in place instead of slicing + Number().
  const n = encoded.length;
  let i = encoded.charCodeAt(0) === 45 /* - */ ? 1 : 0;
  const digitsFrom = i;
  let magnitude = 0;
  for (; i < n; i++) {
    const digit = encoded.charCodeAt(i) - 48;
    if (digit === 10 /* : */) break;
    if (!(digit >= 0 && digit <= 9)) return notACell(encoded);
    magnitude = magnitude * 10 + digit;
  }
  if (i === digitsFrom || i >= n - 1 || !Number.isSafeInteger(magnitude)) return notACell(encoded);
  const eventTs = digitsFrom === 1 ? -magnitude : magnitude;
  const payloadFrom = i + 2;
  let value: OnlineValue;
  switch (encoded.charCodeAt(i + 1)) {
    case 102 /* f */:
      value = +encoded.slice(payloadFrom);
      break;
    case 115 /* s */:
      value = encoded.slice(payloadFrom);
      break;
    case 105 /* i */: {
      const text = encoded.slice(payloadFrom);
      const int = +text;
      value = Number.isSafeInteger(int) ? int : text;
      break;
    }
    case 98 /* b */:
      value = encoded.charCodeAt(payloadFrom) === 49;
      break;
    case 116 /* t */:
      value = new Date(+encoded.slice(payloadFrom));
      break;
    case 97 /* a */:
      value = payloadFrom === n ? [] : decodeFloatList(encoded.slice(payloadFrom));
      break;
    case 110 /* n */:
      value = null;
      break;
    default:
      return notACell(encoded);
  }
  return { value, eventTs: eventTs === 0 ? 0 : eventTs };
}

function notACell(encoded: string): never {
  throw new Error(`not an online cell: ${JSON.stringify(encoded.slice(0, 40))}`);
}

/** Throws TRELLIS_ERR_VALIDATION at `pointer` unless `eventTs` is a safe-integer epoch-ms time. */
export function assertEventTs(eventTs: number, pointer: string): void {
  if (!Number.isSafeInteger(eventTs)) throw invalid(pointer, 'eventTs must be an integer number of epoch milliseconds');
}
