import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { setImmediate as nextTurn } from 'node:timers/promises';
import {
  OnlineStoreBase,
  OnlineStoreError,
  assertEventTs,
  assertOnlineName,
  decodeOnlineCell,
  encodeEntityKey,
  encodeOnlineCell,
  isOnlineStoreError,
  normalizeOnlineTableSpec,
  normalizeOnlineValue,
  onlineUnavailable,
  type EntityKeyValue,
  type OnlineCell,
  type OnlineTableRef,
  type OnlineTableSpec,
  type OnlineValueType,
  type OnlineWriteResult,
  type OnlineWriteRow,
} from '../../src/spi/online-store.js';
import { AppendLog, type FsyncPolicy, type LogChunk, type LogRecovery } from './append-log.js';
import { acquireDirectoryLock, type DirectoryLock } from './directory-lock.js';

/** Configuration of {@link createEmbeddedOnlineStore}. */
export interface EmbeddedOnlineStoreOptions {
  /** Directory owned by the store (created if missing): `online.log` and `LOCK`. */
  readonly dir: string;
  /**
   * `per-batch` (default): every write resolves after its log lines are fdatasync'ed (group commit: concurrent
   * writes share one sync). `interval`: writes resolve once in the OS page cache (safe from a process crash) and
   * the log is synced every `fsyncIntervalMs` (a power loss may lose that much).
   */
  readonly fsync?: FsyncPolicy;
  /** Default 1000. */
  readonly fsyncIntervalMs?: number;
  /** Compaction starts when the log holds more than this many records and over twice the live ones. Default 100 000. */
  readonly compactMinRecords?: number;
  /** How often cells older than their table's ttl are reclaimed, ms. Default 60 000. */
  readonly expirySweepIntervalMs?: number;
}

interface TableState {
  spec: OnlineTableSpec;
  /** Index of this table's cell in every row of its entity. */
  readonly slot: number;
  /** Cells stored in this table. */
  count: number;
}

/** Row-major, like the Redis layout: one lookup per entity key, then a cell per table slot. */
interface EntityState {
  readonly tables: Map<string, TableState>;
  readonly rows: Map<string, Row>;
  /** Slots of dropped tables, cleared in every row, ready for reuse. */
  readonly freeSlots: number[];
  nextSlot: number;
}

type Row = (OnlineCell | undefined)[];

type LogRecord =
  | ['t', string, string, OnlineValueType, number | null]
  | ['x', string, string]
  | ['w', string, string, string, string]
  | ['d', string, string]
  | ['c', string, string, string];

const PROVIDER = 'embedded-online';
const SWEEP_SLICE = 20_000;

/**
 * The default online store: the whole state in memory (per entity type, a map from encoded entity key to a row of
 * cells, one slot per table), made
 * durable by an append-only log in `dir` that is compacted into a snapshot when mostly dead. One process owns the
 * directory. Design, fsync policy and crash behaviour: adapters/embedded-online/README.md.
 */
export class EmbeddedOnlineStore extends OnlineStoreBase {
  readonly adapterId = 'embedded-online';
  readonly #entities = new Map<string, EntityState>();
  readonly #options: Readonly<Required<Omit<EmbeddedOnlineStoreOptions, 'dir'>>>;
  #log!: AppendLog;
  #lock!: DirectoryLock;
  #liveCells = 0;
  #closed = false;
  #compaction: Promise<void> | undefined;
  #sweeping = false;
  #sweepTimer: NodeJS.Timeout | undefined;
  /** The last background compaction or sweep failure, if any (the store keeps working on its old log). */
  lastBackgroundError: Error | undefined;

  private constructor(options: EmbeddedOnlineStoreOptions) {
    super();
    if (options.fsync !== undefined && options.fsync !== 'per-batch' && options.fsync !== 'interval') {
      throw new TypeError(`fsync must be 'per-batch' or 'interval', got ${JSON.stringify(options.fsync)}`);
    }
    this.#options = Object.freeze({
      fsync: options.fsync ?? 'per-batch',
      fsyncIntervalMs: positive(options.fsyncIntervalMs, 1000, 'fsyncIntervalMs'),
      compactMinRecords: positive(options.compactMinRecords, 100_000, 'compactMinRecords'),
      expirySweepIntervalMs: positive(options.expirySweepIntervalMs, 60_000, 'expirySweepIntervalMs'),
    });
  }

  /** Opens the store in `options.dir`, replaying its log. Prefer {@link createEmbeddedOnlineStore}. */
  static async open(options: EmbeddedOnlineStoreOptions): Promise<EmbeddedOnlineStore> {
    const store = new EmbeddedOnlineStore(options);
    await mkdir(options.dir, { recursive: true });
    try {
      store.#lock = await acquireDirectoryLock(options.dir);
    } catch (error) {
      throw onlineUnavailable(PROVIDER, (error as Error).message, error);
    }
    try {
      store.#log = await AppendLog.open(join(options.dir, 'online.log'), store.#options, (record) => store.#replay(record as LogRecord));
    } catch (error) {
      await store.#lock.release();
      throw onlineUnavailable(PROVIDER, `cannot open ${options.dir}: ${(error as Error).message}`, error);
    }
    store.#sweepTimer = setInterval(() => void store.sweepExpired().catch((e: Error) => (store.lastBackgroundError = e)), store.#options.expirySweepIntervalMs);
    store.#sweepTimer.unref();
    store.#maybeCompact();
    return store;
  }

  override get supportsTtlExpiry(): boolean {
    return true;
  }
  override get supportsPersistence(): boolean {
    return true;
  }

  /** What the last open found in the log (records replayed, corrupt lines skipped, torn bytes cut off). */
  get recovery(): LogRecovery {
    return this.#log.recovery;
  }

  async ensureTable(spec: OnlineTableSpec): Promise<void> {
    this.#assertWritable();
    const s = normalizeOnlineTableSpec(spec);
    const existing = this.#entities.get(s.entity)?.tables.get(s.table);
    if (existing !== undefined) {
      if (existing.spec.valueType !== s.valueType) throw new OnlineStoreError('TRELLIS_ERR_CONFLICT', { kind: 'online table', ref: `${s.entity}:${s.table}` });
      if (existing.spec.ttlSeconds === s.ttlSeconds) return;
      existing.spec = s;
    } else {
      this.#createTable(s);
    }
    await this.#append([AppendLog.frame(['t', s.entity, s.table, s.valueType, s.ttlSeconds ?? null])]);
  }

  async getTable(ref: OnlineTableRef): Promise<OnlineTableSpec | null> {
    this.#assertOpen();
    assertOnlineName(ref.entity, '/entity');
    assertOnlineName(ref.table, '/table');
    return this.#entities.get(ref.entity)?.tables.get(ref.table)?.spec ?? null;
  }

  async dropTable(ref: OnlineTableRef): Promise<void> {
    this.#assertWritable();
    assertOnlineName(ref.entity, '/entity');
    assertOnlineName(ref.table, '/table');
    if (!this.#dropTable(ref.entity, ref.table)) return;
    await this.#append([AppendLog.frame(['x', ref.entity, ref.table])]);
  }

  async writeBatch(entity: string, table: string, rows: readonly OnlineWriteRow[]): Promise<OnlineWriteResult> {
    this.#assertWritable();
    assertOnlineName(entity, '/entity');
    assertOnlineName(table, '/table');
    const entityState = this.#entities.get(entity);
    const state = entityState?.tables.get(table);
    if (entityState === undefined || state === undefined) throw new OnlineStoreError('TRELLIS_ERR_NOT_FOUND', { kind: 'online table', ref: `${entity}:${table}` });
    const type = state.spec.valueType;
    const n = rows.length;
    const keys = new Array<string>(n);
    const cells = new Array<OnlineCell>(n);
    for (let i = 0; i < n; i++) {
      const row = rows[i] as OnlineWriteRow;
      keys[i] = keyAt(row.key, `/rows/${i}/key`);
      assertEventTs(row.eventTs, `/rows/${i}/eventTs`);
      cells[i] = Object.freeze({ value: normalizeOnlineValue(type, row.value, `/rows/${i}/value`), eventTs: row.eventTs });
    }
    const lines: string[] = [];
    const stored = entityState.rows;
    const slot = state.slot;
    let skippedOlder = 0;
    for (let i = 0; i < n; i++) {
      const key = keys[i] as string;
      const cell = cells[i] as OnlineCell;
      let row = stored.get(key);
      const current = row?.[slot];
      if (current !== undefined && current.eventTs > cell.eventTs) {
        skippedOlder++;
        continue;
      }
      if (row === undefined) stored.set(key, (row = []));
      if (current === undefined) {
        state.count++;
        this.#liveCells++;
      }
      row[slot] = cell;
      lines.push(AppendLog.frame(['w', entity, table, key, encodeOnlineCell(type, cell.value, cell.eventTs)]));
    }
    await this.#append(lines);
    return { written: lines.length, skippedOlder };
  }

  read(entity: string, keys: readonly (readonly EntityKeyValue[])[], tables: readonly string[]): Promise<(OnlineCell | null)[][]> {
    try {
      this.#assertOpen();
      assertOnlineName(entity, '/entity');
      const entityState = this.#entities.get(entity);
      const m = tables.length;
      const slots = new Array<number>(m);
      for (let j = 0; j < m; j++) slots[j] = entityState?.tables.get(tables[j] as string)?.slot ?? -1;
      const out = new Array<(OnlineCell | null)[]>(keys.length);
      for (let i = 0; i < keys.length; i++) {
        const stored = entityState?.rows.get(keyAt(keys[i] as readonly EntityKeyValue[], `/keys/${i}`));
        const row = new Array<OnlineCell | null>(m);
        for (let j = 0; j < m; j++) {
          const cell = stored?.[slots[j] as number];
          // Dates are mutable: hand out a copy; everything else is frozen.
          row[j] = cell === undefined ? null : cell.value instanceof Date ? { value: new Date(cell.value.getTime()), eventTs: cell.eventTs } : cell;
        }
        out[i] = row;
      }
      return Promise.resolve(out);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  async deleteEntity(entity: string, keys: readonly (readonly EntityKeyValue[])[]): Promise<number> {
    this.#assertWritable();
    assertOnlineName(entity, '/entity');
    const encoded = keys.map((key, i) => keyAt(key, `/keys/${i}`));
    const entityState = this.#entities.get(entity);
    if (entityState === undefined) return 0;
    const lines: string[] = [];
    for (const key of encoded) {
      if (this.#deleteRow(entityState, key)) lines.push(AppendLog.frame(['d', entity, key]));
    }
    await this.#append(lines);
    return lines.length;
  }

  /** Removes cells older than their table's ttl now (also runs every `expirySweepIntervalMs`). Resolves to the count. */
  async sweepExpired(): Promise<number> {
    if (this.#sweeping || this.#closed) return 0;
    this.#sweeping = true;
    try {
      let removed = 0;
      let visited = 0;
      let lines: string[] = [];
      for (const [entity, entityState] of this.#entities) {
        for (const [table, state] of entityState.tables) {
          if (state.spec.ttlSeconds === undefined) continue;
          const cutoff = Date.now() - state.spec.ttlSeconds * 1000;
          for (const [key, row] of entityState.rows) {
            const cell = row[state.slot];
            if (cell !== undefined && cell.eventTs < cutoff) {
              this.#clearCell(entityState, state, key, row);
              removed++;
              lines.push(AppendLog.frame(['c', entity, table, key]));
            }
            if (++visited % SWEEP_SLICE === 0) {
              const pending = lines;
              lines = [];
              await this.#append(pending);
              await nextTurn();
              if (this.#closed || entityState.tables.get(table) !== state) break;
            }
          }
        }
      }
      await this.#append(lines);
      return removed;
    } finally {
      this.#sweeping = false;
    }
  }

  /** Rewrites the log as a snapshot of the live state (also starts by itself when the log is mostly dead). */
  compact(): Promise<void> {
    this.#assertOpen();
    this.#compaction ??= this.#log.rewrite(this.#snapshot()).finally(() => {
      this.#compaction = undefined;
    });
    return this.#compaction;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#sweepTimer) clearInterval(this.#sweepTimer);
    await this.#compaction?.catch(() => {});
    await this.#log.close();
    await this.#lock.release();
  }

  async *#snapshot(): AsyncGenerator<LogChunk> {
    const entities = [...this.#entities].map(([entity, state]) => ({ entity, state, tables: [...state.tables] }));
    const header = entities.flatMap(({ entity, tables }) => tables.map(([table, s]) => AppendLog.frame(['t', entity, table, s.spec.valueType, s.spec.ttlSeconds ?? null])));
    yield { data: header.join(''), records: header.length };
    for (const { entity, state, tables } of entities) {
      let lines: string[] = [];
      for (const [key, row] of state.rows) {
        for (const [table, t] of tables) {
          const cell = row[t.slot];
          if (cell !== undefined && state.tables.get(table) === t) lines.push(AppendLog.frame(['w', entity, table, key, encodeOnlineCell(t.spec.valueType, cell.value, cell.eventTs)]));
        }
        if (lines.length >= SWEEP_SLICE) {
          yield { data: lines.join(''), records: lines.length };
          lines = [];
        }
      }
      if (lines.length > 0) yield { data: lines.join(''), records: lines.length };
    }
  }

  async #append(lines: readonly string[]): Promise<void> {
    if (lines.length === 0) return;
    try {
      await this.#log.append(lines);
    } catch (error) {
      throw onlineUnavailable(PROVIDER, `cannot write the log: ${(error as Error).message}`, error);
    }
    this.#maybeCompact();
  }

  #maybeCompact(): void {
    const records = this.#log.records;
    if (this.#closed || this.#compaction !== undefined || records < this.#options.compactMinRecords || records <= 2 * this.#liveCells) return;
    this.compact().catch((error: Error) => {
      this.lastBackgroundError = error;
    });
  }

  #replay(record: LogRecord): void {
    switch (record[0]) {
      case 't': {
        const [, entity, table, valueType, ttl] = record;
        const spec = normalizeOnlineTableSpec(ttl === null ? { entity, table, valueType } : { entity, table, valueType, ttlSeconds: ttl });
        const existing = this.#entities.get(entity)?.tables.get(table);
        if (existing !== undefined) existing.spec = spec;
        else this.#createTable(spec);
        return;
      }
      case 'x':
        this.#dropTable(record[1], record[2]);
        return;
      case 'w': {
        const entityState = this.#entities.get(record[1]);
        const state = entityState?.tables.get(record[2]);
        if (entityState === undefined || state === undefined) return;
        const decoded = decodeOnlineCell(record[4]);
        const cell = Object.freeze(Array.isArray(decoded.value) ? { value: Object.freeze(decoded.value), eventTs: decoded.eventTs } : decoded);
        let row = entityState.rows.get(record[3]);
        const current = row?.[state.slot];
        if (current !== undefined && current.eventTs > cell.eventTs) return;
        if (row === undefined) entityState.rows.set(record[3], (row = []));
        if (current === undefined) {
          state.count++;
          this.#liveCells++;
        }
        row[state.slot] = cell;
        return;
      }
      case 'd': {
        const entityState = this.#entities.get(record[1]);
        if (entityState !== undefined) this.#deleteRow(entityState, record[2]);
        return;
      }
      case 'c': {
        const entityState = this.#entities.get(record[1]);
        const state = entityState?.tables.get(record[2]);
        const row = entityState?.rows.get(record[3]);
        if (entityState !== undefined && state !== undefined && row?.[state.slot] !== undefined) this.#clearCell(entityState, state, record[3], row);
        return;
      }
    }
  }

  #createTable(spec: OnlineTableSpec): void {
    let entityState = this.#entities.get(spec.entity);
    if (entityState === undefined) this.#entities.set(spec.entity, (entityState = { tables: new Map(), rows: new Map(), freeSlots: [], nextSlot: 0 }));
    const slot = entityState.freeSlots.pop() ?? entityState.nextSlot++;
    entityState.tables.set(spec.table, { spec, slot, count: 0 });
  }

  /** Removes a table and clears its slot in every row; false when it did not exist. */
  #dropTable(entity: string, table: string): boolean {
    const entityState = this.#entities.get(entity);
    const state = entityState?.tables.get(table);
    if (entityState === undefined || state === undefined) return false;
    entityState.tables.delete(table);
    if (state.count > 0) {
      for (const [key, row] of entityState.rows) if (row[state.slot] !== undefined) this.#clearCell(entityState, state, key, row);
    }
    entityState.freeSlots.push(state.slot);
    return true;
  }

  #clearCell(entityState: EntityState, state: TableState, key: string, row: Row): void {
    row[state.slot] = undefined;
    state.count--;
    this.#liveCells--;
    if (row.every((cell) => cell === undefined)) entityState.rows.delete(key);
  }

  /** Removes an entity row; false when it held no cell. */
  #deleteRow(entityState: EntityState, key: string): boolean {
    const row = entityState.rows.get(key);
    if (row === undefined) return false;
    entityState.rows.delete(key);
    let had = false;
    for (const state of entityState.tables.values()) {
      if (row[state.slot] !== undefined) {
        state.count--;
        this.#liveCells--;
        had = true;
      }
    }
    return had;
  }

  #assertOpen(): void {
    if (this.#closed) throw onlineUnavailable(PROVIDER, 'the store is closed');
  }

  /** Changes are refused before they touch memory once the log cannot be written. */
  #assertWritable(): void {
    this.#assertOpen();
    const failure = this.#log.failure;
    if (failure !== undefined) throw onlineUnavailable(PROVIDER, `the log failed earlier: ${failure.message}`, failure);
  }
}

/** Opens the embedded online store in `options.dir` (created if missing), replaying its log. */
export function createEmbeddedOnlineStore(options: EmbeddedOnlineStoreOptions): Promise<EmbeddedOnlineStore> {
  return EmbeddedOnlineStore.open(options);
}

function positive(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  if (!(Number.isFinite(value) && value > 0)) throw new TypeError(`${name} must be a positive number, got ${String(value)}`);
  return value;
}

function keyAt(key: readonly EntityKeyValue[], pointer: string): string {
  if (!Array.isArray(key)) throw new OnlineStoreError('TRELLIS_ERR_VALIDATION', { pointer, reason: 'an entity key is an array of key parts' });
  try {
    return encodeEntityKey(key);
  } catch (error) {
    if (isOnlineStoreError(error, 'TRELLIS_ERR_VALIDATION')) {
      throw new OnlineStoreError('TRELLIS_ERR_VALIDATION', { pointer: pointer + error.params.pointer, reason: error.params.reason });
    }
    throw error;
  }
}
