import { createHash } from 'node:crypto';
import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';
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
  type OnlineValue,
  type OnlineWriteResult,
  type OnlineWriteRow,
} from '../../src/spi/online-store.js';
import { REDIS_CAS_SCRIPT } from './redis-cas-script.js';
import { RedisKeyLayout, redisHashSlot } from './redis-key-layout.js';

/** Configuration of {@link createRedisOnlineStore}. Give `url` (standalone) or `nodes` (Cluster). */
export interface RedisOnlineStoreOptions {
  /** Standalone server, `redis://[[user]:password@]host:port[/db]` or `rediss://…`. */
  readonly url?: string;
  /** Redis Cluster seed nodes, `host:port` or `{ host, port }`; the store discovers the rest. */
  readonly nodes?: readonly (string | { readonly host: string; readonly port: number })[];
  /** Cluster only: credentials for every node (standalone takes them from `url`). */
  readonly username?: string;
  readonly password?: string;
  /** Prepended to every key; no `{` or `}`. Default `trellis:`. */
  readonly keyPrefix?: string;
  /** Deadline of a read or metadata call, including waiting for a reconnect, ms. Default 100. */
  readonly commandTimeoutMs?: number;
  /** Deadline of writeBatch, deleteEntity and dropTable, ms. Default 10 000. */
  readonly writeTimeoutMs?: number;
  /** Limit of one TCP connect attempt, ms. Default 1000. */
  readonly connectTimeoutMs?: number;
  /** Reconnect back-off grows 50 ms per attempt up to this, ms; bounds recovery time after Redis returns. Default 500. */
  readonly reconnectMaxDelayMs?: number;
  /** Rows per compare-and-set script call (one atomic EVALSHA; calls are pipelined). Default 128. */
  readonly writeChunkRows?: number;
  /**
   * Standalone only: let ioredis coalesce the commands of concurrent calls into one write per event-loop turn
   * (always on for Cluster, where it also routes per node). Default false.
   */
  readonly autoPipelining?: boolean;
  /** Provider name in error messages. Default `redis`. */
  readonly name?: string;
}

type Config = Required<Omit<RedisOnlineStoreOptions, 'url' | 'nodes' | 'username' | 'password'>>;

/** The ioredis surface the store uses, called with array arguments (ioredis flattens them one level). */
interface RedisConnection {
  readonly status: string;
  hmget(key: string, fields: readonly string[]): Promise<(string | null)[]>;
  evalsha(sha: string, args: readonly (string | number)[]): Promise<[number, number]>;
  eval(script: string, args: readonly (string | number)[]): Promise<[number, number]>;
  pipeline(): RedisBatch;
}

interface RedisBatch {
  hmget(key: string, fields: readonly string[]): RedisBatch;
  evalsha(sha: string, args: readonly (string | number)[]): RedisBatch;
  eval(script: string, args: readonly (string | number)[]): RedisBatch;
  unlink(keys: readonly string[]): RedisBatch;
  hdel(key: string, field: string): RedisBatch;
  exec(): Promise<[Error | null, unknown][] | null>;
}

const CAS_SHA = createHash('sha1').update(REDIS_CAS_SCRIPT).digest('hex');
const isNoScript = (error: unknown): boolean => error instanceof Error && error.message.startsWith('NOSCRIPT');

interface TableMeta {
  readonly valueType: OnlineTableSpec['valueType'];
  readonly ttlSeconds?: number;
}

/**
 * Online store on Redis (standalone or Cluster) through ioredis. Key layout and encodings: adapters/redis/README.md.
 * Reads fail fast with TRELLIS_ERR_ONLINE_UNAVAILABLE after `commandTimeoutMs`; there is no offline queue, the
 * client reconnects by itself and reads succeed again as soon as Redis answers.
 */
export class RedisOnlineStore extends OnlineStoreBase {
  readonly adapterId = 'redis';
  readonly #client: Redis | Cluster;
  readonly #isCluster: boolean;
  readonly #config: Readonly<Config>;
  readonly #layout: RedisKeyLayout;
  readonly #tables = new Map<string, OnlineTableSpec>();
  readonly #readyWaiters = new Set<() => void>();
  #lastError: Error | undefined;
  #closed = false;

  constructor(options: RedisOnlineStoreOptions) {
    super();
    this.#config = Object.freeze({
      keyPrefix: options.keyPrefix ?? 'trellis:',
      commandTimeoutMs: positive(options.commandTimeoutMs, 100, 'commandTimeoutMs'),
      writeTimeoutMs: positive(options.writeTimeoutMs, 10_000, 'writeTimeoutMs'),
      connectTimeoutMs: positive(options.connectTimeoutMs, 1000, 'connectTimeoutMs'),
      reconnectMaxDelayMs: positive(options.reconnectMaxDelayMs, 500, 'reconnectMaxDelayMs'),
      writeChunkRows: positive(options.writeChunkRows, 128, 'writeChunkRows'),
      autoPipelining: options.autoPipelining ?? false,
      name: options.name ?? 'redis',
    });
    this.#layout = new RedisKeyLayout(this.#config.keyPrefix);
    const reconnectMax = this.#config.reconnectMaxDelayMs;
    const connection: RedisOptions = {
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      connectTimeout: this.#config.connectTimeoutMs,
      retryStrategy: (attempt) => Math.min(attempt * 50, reconnectMax),
      enableAutoPipelining: this.#config.autoPipelining,
    };
    if ((options.url === undefined) === (options.nodes === undefined)) {
      throw new TypeError('createRedisOnlineStore needs exactly one of url (standalone) or nodes (Cluster)');
    }
    if (options.nodes !== undefined) {
      const clusterOptions: ClusterOptions = {
        enableOfflineQueue: false,
        enableAutoPipelining: true,
        clusterRetryStrategy: (attempt) => Math.min(attempt * 50, reconnectMax),
        redisOptions: { ...connection, username: options.username, password: options.password },
      };
      this.#client = new Cluster(options.nodes.map((n) => (typeof n === 'string' ? n : { host: n.host, port: n.port })), clusterOptions);
      this.#isCluster = true;
    } else {
      this.#client = new Redis(options.url as string, connection);
      this.#isCluster = false;
    }
    this.#client.on('error', (error: Error) => {
      this.#lastError = error;
    });
    this.#client.on('ready', () => {
      for (const wake of this.#readyWaiters) wake();
    });
  }

  override get supportsTtlExpiry(): boolean {
    return true;
  }
  override get supportsCluster(): boolean {
    return true;
  }
  override get supportsSharedAccess(): boolean {
    return true;
  }
  override get supportsPersistence(): boolean {
    return true;
  }

  get #conn(): RedisConnection {
    return this.#client as unknown as RedisConnection;
  }

  async ensureTable(spec: OnlineTableSpec): Promise<void> {
    const s = normalizeOnlineTableSpec(spec);
    const field = this.#layout.metaField(s.entity, s.table);
    const meta: TableMeta = s.ttlSeconds === undefined ? { valueType: s.valueType } : { valueType: s.valueType, ttlSeconds: s.ttlSeconds };
    const json = JSON.stringify(meta);
    await this.#run(this.#config.writeTimeoutMs, async () => {
      if ((await this.#client.hsetnx(this.#layout.metaKey, field, json)) === 1) return;
      const existing = parseMeta(await this.#client.hget(this.#layout.metaKey, field));
      if (existing !== null && existing.valueType !== s.valueType) {
        throw new OnlineStoreError('TRELLIS_ERR_CONFLICT', { kind: 'online table', ref: field });
      }
      if (existing === null || existing.ttlSeconds !== s.ttlSeconds) await this.#client.hset(this.#layout.metaKey, field, json);
    });
    this.#tables.set(field, s);
  }

  async getTable(ref: OnlineTableRef): Promise<OnlineTableSpec | null> {
    this.#assertOpen();
    assertOnlineName(ref.entity, '/entity');
    assertOnlineName(ref.table, '/table');
    const field = this.#layout.metaField(ref.entity, ref.table);
    const meta = parseMeta(await this.#run(this.#config.commandTimeoutMs, () => this.#client.hget(this.#layout.metaKey, field)));
    if (meta === null) {
      this.#tables.delete(field);
      return null;
    }
    const spec = normalizeOnlineTableSpec({ entity: ref.entity, table: ref.table, ...meta });
    this.#tables.set(field, spec);
    return spec;
  }

  async dropTable(ref: OnlineTableRef): Promise<void> {
    this.#assertOpen();
    assertOnlineName(ref.entity, '/entity');
    assertOnlineName(ref.table, '/table');
    const field = this.#layout.metaField(ref.entity, ref.table);
    this.#tables.delete(field);
    await this.#run(this.#config.writeTimeoutMs, async () => {
      await this.#client.hdel(this.#layout.metaKey, field);
      const nodes: Redis[] = this.#isCluster ? (this.#client as Cluster).nodes('master') : [this.#client as Redis];
      const pattern = this.#layout.entityScanPattern(ref.entity);
      await Promise.all(
        nodes.map(async (node) => {
          let cursor = '0';
          do {
            const [next, keys] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
            cursor = next;
            const rows = keys.filter((k) => this.#layout.isRowKey(k));
            if (rows.length === 0) continue;
            const batch = (node as unknown as RedisConnection).pipeline();
            for (const key of rows) batch.hdel(key, ref.table);
            checkBatch(await batch.exec());
          } while (cursor !== '0');
        }),
      );
    });
  }

  async writeBatch(entity: string, table: string, rows: readonly OnlineWriteRow[]): Promise<OnlineWriteResult> {
    this.#assertOpen();
    assertOnlineName(entity, '/entity');
    assertOnlineName(table, '/table');
    const spec = this.#tables.get(this.#layout.metaField(entity, table)) ?? (await this.getTable({ entity, table }));
    if (spec === null) throw new OnlineStoreError('TRELLIS_ERR_NOT_FOUND', { kind: 'online table', ref: this.#layout.metaField(entity, table) });
    const n = rows.length;
    if (n === 0) return { written: 0, skippedOlder: 0 };
    const ttlMs = spec.ttlSeconds === undefined ? 0 : spec.ttlSeconds * 1000;
    if (this.#isCluster) {
      const keys = new Array<string>(n);
      const cells = new Array<string>(n);
      const start = this.#layout.rowKeyStart(entity);
      for (let i = 0; i < n; i++) {
        keys[i] = rowKeyAt(start, rows[i] as OnlineWriteRow, i);
        cells[i] = cellAt(spec.valueType, rows[i] as OnlineWriteRow, i);
      }
      return this.#run(this.#config.writeTimeoutMs, () => this.#casCluster(keys, table, ttlMs, cells));
    }
    // Standalone: every script call's arguments built in place (the whole batch is validated before any is sent).
    const calls = casCalls(this.#layout.rowKeyStart(entity), spec.valueType, rows, this.#config.writeChunkRows, table, ttlMs);
    return this.#run(this.#config.writeTimeoutMs, () => this.#casStandalone(calls));
  }

  // EVALSHA, and EVAL for calls that meet a server without the script (first use, restart).
  async #casStandalone(calls: readonly (string | number)[][]): Promise<OnlineWriteResult> {
    const batch = this.#conn.pipeline();
    for (const args of calls) batch.evalsha(CAS_SHA, args);
    const replies = (await batch.exec()) ?? [];
    let written = 0;
    let skippedOlder = 0;
    let retry: RedisBatch | undefined;
    for (let i = 0; i < replies.length; i++) {
      const [error, value] = replies[i] as [Error | null, unknown];
      if (error === null) {
        written += (value as [number, number])[0];
        skippedOlder += (value as [number, number])[1];
      } else if (isNoScript(error)) {
        retry ??= this.#conn.pipeline();
        retry.eval(REDIS_CAS_SCRIPT, calls[i] as (string | number)[]);
      } else throw error;
    }
    if (retry === undefined) return { written, skippedOlder };
    const again = sumCas(checkBatch(await retry.exec()) as [number, number][]);
    return { written: written + again.written, skippedOlder: skippedOlder + again.skippedOlder };
  }

  async #casCluster(keys: string[], field: string, ttlMs: number, cells: string[]): Promise<OnlineWriteResult> {
    const bySlot = new Map<number, number[]>();
    for (let i = 0; i < keys.length; i++) {
      const slot = redisHashSlot(keys[i] as string);
      const group = bySlot.get(slot);
      if (group === undefined) bySlot.set(slot, [i]);
      else group.push(i);
    }
    const chunk = this.#config.writeChunkRows;
    const calls: Promise<[number, number]>[] = [];
    for (const group of bySlot.values()) {
      for (let from = 0; from < group.length; from += chunk) {
        const part = group.slice(from, from + chunk);
        const args = casArgs(part.map((i) => keys[i] as string), part.map((i) => cells[i] as string), 0, part.length, field, ttlMs);
        calls.push(this.#conn.evalsha(CAS_SHA, args).catch((error: unknown) => (isNoScript(error) ? this.#conn.eval(REDIS_CAS_SCRIPT, args) : Promise.reject(error))));
      }
    }
    return sumCas(await Promise.all(calls));
  }

  read(entity: string, keys: readonly (readonly EntityKeyValue[])[], tables: readonly string[]): Promise<(OnlineCell | null)[][]> {
    return this.#readRows(entity, keys, tables, decodeRows);
  }

  /** The HMGET replies as they are: cells in their stored text, no per-cell decoding. */
  override readEncoded(entity: string, keys: readonly (readonly EntityKeyValue[])[], tables: readonly string[]): Promise<(string | null)[][]> {
    return this.#readRows(entity, keys, tables, asEncodedRows);
  }

  // The hot path: one promise and one timer per call, decoding inside the settle callback.
  #readRows<R>(entity: string, keys: readonly (readonly EntityKeyValue[])[], tables: readonly string[], finish: (rows: (string | null)[][]) => R[]): Promise<R[]> {
    if (this.#closed) return Promise.reject(this.#closedError());
    const n = keys.length;
    let rowKeys: string[];
    try {
      assertOnlineName(entity, '/entity');
      if (n === 0) return Promise.resolve([]);
      if (tables.length === 0) return Promise.resolve(finish(keys.map(() => [])));
      const start = this.#layout.rowKeyStart(entity);
      rowKeys = new Array<string>(n);
      for (let i = 0; i < n; i++) rowKeys[i] = `${start}${keyAt(keys[i] as readonly EntityKeyValue[], `/keys/${i}`)}}`;
    } catch (error) {
      return Promise.reject(error);
    }
    if (n === 1) {
      const key = rowKeys[0] as string;
      return this.#run(this.#config.commandTimeoutMs, () => this.#conn.hmget(key, tables), (row) => finish([row]));
    }
    return this.#run(this.#config.commandTimeoutMs, () => this.#hmgetRows(rowKeys, tables), finish);
  }

  /** One HMGET per key, in one round trip: a pipeline, or per-node auto-pipelines. */
  #hmgetRows(rowKeys: string[], fields: readonly string[]): Promise<(string | null)[][]> {
    const conn = this.#conn;
    if (this.#isCluster || this.#config.autoPipelining) return Promise.all(rowKeys.map((key) => conn.hmget(key, fields)));
    const batch = conn.pipeline();
    for (const key of rowKeys) batch.hmget(key, fields);
    return batch.exec().then((replies) => checkBatch(replies) as (string | null)[][]);
  }

  async deleteEntity(entity: string, keys: readonly (readonly EntityKeyValue[])[]): Promise<number> {
    this.#assertOpen();
    assertOnlineName(entity, '/entity');
    if (keys.length === 0) return 0;
    const rowKeys = keys.map((key, i) => this.#layout.rowKey(entity, keyAt(key, `/keys/${i}`)));
    const counts = await this.#run(this.#config.writeTimeoutMs, async () => {
      if (this.#isCluster) return Promise.all(rowKeys.map((key) => this.#client.unlink(key)));
      const batch = this.#conn.pipeline();
      for (const key of rowKeys) batch.unlink([key]);
      return checkBatch(await batch.exec()) as number[];
    });
    return counts.reduce((sum, count) => sum + count, 0);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const wake of this.#readyWaiters) wake();
    try {
      await this.#client.quit();
    } catch {
      this.#client.disconnect();
    }
  }

  #assertOpen(): void {
    if (this.#closed) throw this.#closedError();
  }

  #closedError(): OnlineStoreError {
    return onlineUnavailable(this.#config.name, 'the store is closed');
  }

  /**
   * Runs `operation` once the client is ready, all within `timeoutMs`, then `map` on its result; every failure
   * becomes ONLINE_UNAVAILABLE.
   */
  #run<T, U = T>(timeoutMs: number, operation: () => Promise<T>, map?: (value: T) => U): Promise<U> {
    if (this.#closed) return Promise.reject(this.#closedError());
    const started = this.#client.status === 'ready' ? operation() : this.#whenReady(timeoutMs).then(operation);
    return new Promise<U>((resolve, reject) => {
      const timer = setTimeout(() => reject(onlineUnavailable(this.#config.name, `no answer within ${timeoutMs} ms`)), timeoutMs);
      started.then(
        (value) => {
          clearTimeout(timer);
          try {
            resolve(map === undefined ? (value as unknown as U) : map(value));
          } catch (error) {
            reject(error);
          }
        },
        (error: unknown) => {
          clearTimeout(timer);
          reject(isOnlineStoreError(error) ? error : onlineUnavailable(this.#config.name, errorText(error), error));
        },
      );
    });
  }

  #whenReady(timeoutMs: number): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const client = this.#client;
      if (client.status === 'wait') client.connect().catch(() => {});
      const wake = (): void => {
        clearTimeout(timer);
        this.#readyWaiters.delete(wake);
        if (this.#closed) reject(this.#closedError());
        else resolve();
      };
      const timer = setTimeout(() => {
        this.#readyWaiters.delete(wake);
        const cause = this.#lastError === undefined ? '' : `: ${this.#lastError.message}`;
        reject(onlineUnavailable(this.#config.name, `not connected (${client.status})${cause}`, this.#lastError));
      }, timeoutMs);
      this.#readyWaiters.add(wake);
    });
  }
}

/** Creates a {@link RedisOnlineStore}; the connection opens in the background (first calls wait for it, within their deadline). */
export function createRedisOnlineStore(options: RedisOnlineStoreOptions): RedisOnlineStore {
  return new RedisOnlineStore(options);
}

function positive(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  if (!(Number.isFinite(value) && value > 0)) throw new TypeError(`${name} must be a positive number, got ${String(value)}`);
  return value;
}

function keyAt(key: readonly EntityKeyValue[], pointer: string): string {
  if (!Array.isArray(key)) {
    throw new OnlineStoreError('TRELLIS_ERR_VALIDATION', { pointer, reason: 'an entity key is an array of key parts' });
  }
  try {
    return encodeEntityKey(key);
  } catch (error) {
    if (isOnlineStoreError(error, 'TRELLIS_ERR_VALIDATION')) {
      throw new OnlineStoreError('TRELLIS_ERR_VALIDATION', { pointer: pointer + error.params.pointer, reason: error.params.reason });
    }
    throw error;
  }
}

// The write path's per-row helpers build an error's JSON pointer only when there is an error.

function rowKeyAt(start: string, row: OnlineWriteRow, i: number): string {
  const key = row.key;
  if (Array.isArray(key)) {
    try {
      return `${start}${encodeEntityKey(key)}}`;
    } catch (error) {
      throw withPointerPrefix(error, `/rows/${i}/key`);
    }
  }
  return `${start}${keyAt(key, `/rows/${i}/key`)}}`;
}

function cellAt(type: OnlineTableSpec['valueType'], row: OnlineWriteRow, i: number): string {
  const eventTs = row.eventTs;
  if (!Number.isSafeInteger(eventTs)) assertEventTs(eventTs, `/rows/${i}/eventTs`);
  let value: OnlineValue;
  try {
    value = normalizeOnlineValue(type, row.value, '');
  } catch (error) {
    throw withPointerPrefix(error, `/rows/${i}/value`);
  }
  return encodeOnlineCell(type, value, eventTs);
}

function withPointerPrefix(error: unknown, prefix: string): unknown {
  if (!isOnlineStoreError(error, 'TRELLIS_ERR_VALIDATION')) return error;
  return new OnlineStoreError('TRELLIS_ERR_VALIDATION', { pointer: prefix + error.params.pointer, reason: error.params.reason });
}

/** The CAS script's argument lists for `rows`, `chunk` rows per call (see redis-cas-script.ts for the layout). */
function casCalls(
  start: string,
  type: OnlineTableSpec['valueType'],
  rows: readonly OnlineWriteRow[],
  chunk: number,
  field: string,
  ttlMs: number,
): (string | number)[][] {
  const n = rows.length;
  const calls = new Array<(string | number)[]>(Math.ceil(n / chunk));
  for (let from = 0, c = 0; from < n; from += chunk, c++) {
    const count = Math.min(chunk, n - from);
    const args = new Array<string | number>(2 * count + 3);
    args[0] = count;
    args[count + 1] = field;
    args[count + 2] = ttlMs;
    for (let j = 0; j < count; j++) {
      const row = rows[from + j] as OnlineWriteRow;
      args[1 + j] = rowKeyAt(start, row, from + j);
      args[count + 3 + j] = cellAt(type, row, from + j);
    }
    calls[c] = args;
  }
  return calls;
}

function casArgs(keys: readonly string[], cells: readonly string[], from: number, to: number, field: string, ttlMs: number): (string | number)[] {
  const count = to - from;
  const args = new Array<string | number>(2 * count + 3);
  args[0] = count;
  for (let i = 0; i < count; i++) {
    args[1 + i] = keys[from + i] as string;
    args[count + 3 + i] = cells[from + i] as string;
  }
  args[count + 1] = field;
  args[count + 2] = ttlMs;
  return args;
}

function sumCas(results: readonly [number, number][]): OnlineWriteResult {
  let written = 0;
  let skippedOlder = 0;
  for (const [w, s] of results) {
    written += w;
    skippedOlder += s;
  }
  return { written, skippedOlder };
}

function checkBatch(replies: [Error | null, unknown][] | null): unknown[] {
  if (replies === null) throw new Error('pipeline was discarded');
  const out = new Array<unknown>(replies.length);
  for (let i = 0; i < replies.length; i++) {
    const [error, value] = replies[i] as [Error | null, unknown];
    if (error) throw error;
    out[i] = value;
  }
  return out;
}

function asEncodedRows(rows: (string | null)[][]): (string | null)[][] {
  return rows;
}

function decodeRows(rows: (string | null)[][]): (OnlineCell | null)[][] {
  const out = new Array<(OnlineCell | null)[]>(rows.length);
  for (let i = 0; i < rows.length; i++) {
    const row = rows[i] as (string | null)[];
    const cells = new Array<OnlineCell | null>(row.length);
    for (let j = 0; j < row.length; j++) {
      const text = row[j];
      cells[j] = text === null || text === undefined ? null : decodeOnlineCell(text);
    }
    out[i] = cells;
  }
  return out;
}

function parseMeta(json: string | null): TableMeta | null {
  if (json === null) return null;
  const meta = JSON.parse(json) as TableMeta;
  return meta.ttlSeconds === undefined ? { valueType: meta.valueType } : { valueType: meta.valueType, ttlSeconds: meta.ttlSeconds };
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
