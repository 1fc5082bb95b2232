import { Redis, type RedisOptions } from 'ioredis';
import { assertOnlineName, encodeEntityKey, onlineUnavailable, type EntityKeyValue } from '../../src/spi/online-store.js';
import {
  TILE_STORE_KIND,
  decodePartial,
  encodePartial,
  tileRetentionMs,
  type StoredTile,
  type TileApplyResult,
  type TileEvent,
  type TileFeature,
  type TileStore,
} from '../../src/spi/tile-store.js';
import { REDIS_TILE_SCRIPT } from './redis-tile-script.js';

/** Configuration of {@link createRedisTileStore}. */
export interface RedisTileStoreOptions {
  /** `redis://[[user]:password@]host:port[/db]` or `rediss://…`. */
  readonly url: string;
  /** Prepended to every key (no `{`/`}`). Default `trellis:`. Tiles live under `<prefix>tile:`, watermarks `<prefix>wm:`. */
  readonly keyPrefix?: string;
  /** Deadline of reads (readTiles, watermarks), ms. Default 1000. */
  readonly commandTimeoutMs?: number;
  /** Deadline of each write chunk (applyEvents), ms. Default 30 000. */
  readonly writeTimeoutMs?: number;
  /** Entity keys per script call (each key's update is atomic; calls are pipelined). Default 500. */
  readonly writeChunkKeys?: number;
  /** Extra wall-clock life of a key after its last write beyond window + tile + lateness, ms. Default 60 000. */
  readonly ttlSlackMs?: number;
  /** Provider name in error messages. Default `redis`. */
  readonly name?: string;
}


const WATERMARK_SCRIPT = `
for i = 1, #ARGV, 2 do
  local current = redis.call('HGET', KEYS[1], ARGV[i])
  if not current or tonumber(current) < tonumber(ARGV[i + 1]) then redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
end
return 1`;

/** Events of one key per script call (bounded by Lua's unpack limit: 2 fields per event are read at once). */
const MAX_EVENTS_PER_KEY = 1000;
/** Events per script call: a call blocks Redis while it runs, so many keys are cut into several calls. */
const MAX_EVENTS_PER_CALL = 2000;

interface TileCommands {
  trellisApplyTiles(numberOfKeys: number, ...args: (string | number)[]): Promise<number[]>;
  trellisRaiseWatermarks(key: string, ...args: (string | number)[]): Promise<number>;
}

/**
 * Tiles on Redis: one hash per (feature, entity key) — `<prefix>tile:<feature>:<encoded key>` — with a field per
 * tile (`t:<start>`, the partial's text form), a field per (tile, partition) holding the highest applied offset
 * (`o:<start>:<partition>`) and `max` / `min` (newest / oldest tile). One Lua script call applies the events of up to
 * `writeChunkKeys` keys (one HMGET and one HSET per key), skipping replays, reporting pre-combined runs that straddle
 * an applied offset, and dropping expired tiles; calls are pipelined. The multi-key script needs a single Redis
 * (not Redis Cluster: the keys of one call may live in different slots). The key expires `window + tile + lateness +
 * ttlSlackMs` after its last write, which assumes event time follows wall-clock time.
 */
export class RedisTileStore implements TileStore {
  readonly kind = TILE_STORE_KIND;
  readonly adapterId = 'redis';
  readonly #client: Redis & TileCommands;
  readonly #writer: Redis & TileCommands;
  readonly #chunkKeys: number;
  readonly #prefix: string;
  readonly #slackMs: number;
  readonly #name: string;
  #closed = false;

  constructor(options: RedisTileStoreOptions) {
    this.#prefix = options.keyPrefix ?? 'trellis:';
    if (/[{}]/.test(this.#prefix)) throw new TypeError('keyPrefix must not contain { or }');
    this.#slackMs = options.ttlSlackMs ?? 60_000;
    this.#name = options.name ?? 'redis';
    this.#chunkKeys = options.writeChunkKeys ?? 500;
    const connect = (commandTimeout: number): Redis & TileCommands => {
      const connection: RedisOptions = { commandTimeout, maxRetriesPerRequest: 1, retryStrategy: (attempt) => Math.min(attempt * 50, 500) };
      const client = new Redis(options.url, connection);
      client.on('error', () => {});
      client.defineCommand('trellisApplyTiles', { lua: REDIS_TILE_SCRIPT });
      client.defineCommand('trellisRaiseWatermarks', { numberOfKeys: 1, lua: WATERMARK_SCRIPT });
      return client as Redis & TileCommands;
    };
    // Reads fail fast on their own connection; big write pipelines get a long deadline and do not delay reads.
    this.#client = connect(options.commandTimeoutMs ?? 1000);
    this.#writer = connect(options.writeTimeoutMs ?? 30_000);
  }

  #key(feature: string, encodedKey: string): string {
    return `${this.#prefix}tile:${feature}:${encodedKey}`;
  }

  async applyEvents(feature: TileFeature, events: readonly TileEvent[]): Promise<TileApplyResult> {
    this.#assertOpen();
    assertOnlineName(feature.id, '/feature');
    if (events.length === 0) return { applied: 0, skipped: 0 };
    // Events by key, in order; a key with very many events is cut into segments (one script call each, in order).
    const byKey = new Map<string, number[]>();
    for (let i = 0; i < events.length; i++) {
      const key = this.#key(feature.id, encodeEntityKey(events[i]!.key));
      let list = byKey.get(key);
      if (!list) byKey.set(key, (list = []));
      list.push(i);
    }
    const { windowMs, tileMs } = feature.layout;
    const retention = tileRetentionMs(feature.layout);
    const head = [windowMs ?? '', tileMs ?? '', retention === null ? '' : retention + this.#slackMs];
    type WritePipeline = { trellisApplyTiles(numberOfKeys: number, ...args: (string | number)[]): void; exec(): Promise<[Error | null, unknown][] | null> };
    const pipeline = this.#writer.pipeline() as unknown as WritePipeline;
    /** Per script call: the event indexes in the order the script numbers them. */
    const calls: number[][] = [];
    let keys: string[] = [];
    let args: (string | number)[] = [];
    let order: number[] = [];
    const flush = () => {
      if (keys.length === 0) return;
      pipeline.trellisApplyTiles(keys.length, ...keys, ...head, ...args);
      calls.push(order);
      keys = [];
      args = [];
      order = [];
    };
    for (const [key, indexes] of byKey) {
      for (let from = 0; from < indexes.length; from += MAX_EVENTS_PER_KEY) {
        const segment = indexes.slice(from, from + MAX_EVENTS_PER_KEY);
        keys.push(key);
        args.push(segment.length);
        for (const i of segment) {
          const e = events[i]!;
          args.push(e.tileStart, e.partition, e.firstOffset ?? e.offset, e.offset, encodePartial(e.partial));
          order.push(i);
        }
        if (keys.length >= this.#chunkKeys || order.length >= MAX_EVENTS_PER_CALL) flush();
      }
    }
    flush();
    const results = (await this.#exec(pipeline)) as number[][];
    let applied = 0;
    const straddled: { index: number; seen: number }[] = [];
    results.forEach((result, c) => {
      applied += Number(result[0]);
      for (let j = 1; j < result.length; j += 2) straddled.push({ index: calls[c]![Number(result[j])]!, seen: Number(result[j + 1]) });
    });
    return straddled.length > 0 ? { applied, skipped: events.length - applied - straddled.length, straddled } : { applied, skipped: events.length - applied };
  }

  async readTiles(feature: TileFeature, keys: readonly (readonly EntityKeyValue[])[], fromTile: number, toTile: number): Promise<StoredTile[][]> {
    this.#assertOpen();
    if (keys.length === 0) return [];
    const tileMs = feature.layout.tileMs;
    const starts: number[] = [];
    if (tileMs === null) starts.push(0);
    else for (let s = fromTile; s <= toTile; s += tileMs) starts.push(s);
    const fields = starts.map((s) => `t:${s}`);
    const pipeline = this.#client.pipeline();
    for (const key of keys) pipeline.hmget(this.#key(feature.id, encodeEntityKey(key)), ...fields);
    const results = (await this.#exec(pipeline)) as (string | null)[][];
    return results.map((values) => {
      const out: StoredTile[] = [];
      values.forEach((text, i) => {
        if (text !== null) out.push({ tileStart: starts[i]!, partial: decodePartial(text) });
      });
      return out;
    });
  }

  async readWatermarks(stream: string, partitions: readonly number[]): Promise<(number | null)[]> {
    this.#assertOpen();
    if (partitions.length === 0) return [];
    const values = await this.#run(() => this.#client.hmget(`${this.#prefix}wm:${stream}`, ...partitions.map(String)));
    return values.map((v) => (v === null ? null : Number(v)));
  }

  async writeWatermarks(stream: string, watermarks: readonly { partition: number; watermark: number }[]): Promise<void> {
    this.#assertOpen();
    if (watermarks.length === 0) return;
    await this.#run(() => this.#writer.trellisRaiseWatermarks(`${this.#prefix}wm:${stream}`, ...watermarks.flatMap((w) => [w.partition, w.watermark])));
  }

  async deleteKeys(feature: TileFeature, keys: readonly (readonly EntityKeyValue[])[]): Promise<number> {
    this.#assertOpen();
    if (keys.length === 0) return 0;
    return this.#run(() => this.#client.unlink(...keys.map((k) => this.#key(feature.id, encodeEntityKey(k)))));
  }

  async #exec(pipeline: { exec(): Promise<[Error | null, unknown][] | null> }): Promise<unknown[]> {
    const results = await this.#run(() => pipeline.exec());
    if (!results) throw onlineUnavailable(this.#name, 'pipeline aborted');
    return results.map(([error, value]) => {
      if (error) throw onlineUnavailable(this.#name, error.message, error);
      return value;
    });
  }

  async #run<T>(call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (error) {
      throw onlineUnavailable(this.#name, (error as Error).message, error);
    }
  }

  #assertOpen(): void {
    if (this.#closed) throw onlineUnavailable(this.#name, 'the tile store is closed');
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await Promise.all([this.#client.quit().catch(() => this.#client.disconnect()), this.#writer.quit().catch(() => this.#writer.disconnect())]);
  }
}

/** Opens a Redis tile store (see {@link RedisTileStoreOptions}). */
export function createRedisTileStore(options: RedisTileStoreOptions): RedisTileStore {
  return new RedisTileStore(options);
}
