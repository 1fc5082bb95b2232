import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { assertOnlineName, encodeEntityKey, onlineUnavailable, type EntityKeyValue } from '../../src/spi/online-store.js';
import {
  EMPTY_PARTIAL,
  TILE_STORE_KIND,
  combinePartials,
  decodePartial,
  encodePartial,
  expiryThreshold,
  type StoredTile,
  type TileApplyResult,
  type TileEvent,
  type TileFeature,
  type TilePartial,
  type TileStore,
} from '../../src/spi/tile-store.js';
import { AppendLog, type FsyncPolicy } from './append-log.js';
import { acquireDirectoryLock, type DirectoryLock } from './directory-lock.js';

/** Configuration of {@link createEmbeddedTileStore}. */
export interface EmbeddedTileStoreOptions {
  /** Directory owned by the store (`tiles.log` + `LOCK`); null keeps everything in memory only (tests, `:memory:`). */
  readonly dir: string | null;
  /** As for the embedded online store; default `per-batch`. */
  readonly fsync?: FsyncPolicy;
}

interface KeyTiles {
  readonly tiles: Map<number, TilePartial>;
  /** `<tileStart>:<partition>` → highest applied offset. */
  readonly offsets: Map<string, number>;
  maxTile: number;
}

type LogRecord =
  | ['e', string, string, number | null, number | null, number, number, number, string]
  | ['k', string, string]
  | ['m', string, number, number];

const PROVIDER = 'embedded-online';

/**
 * Tiles in memory (feature → encoded entity key → tile → partial, plus the applied offsets), made durable by an
 * append-only log of the events actually applied. Replaying the log runs the same idempotent apply, so the state
 * after a restart is the state before it. One process owns the directory. The log is not compacted yet.
 */
export class EmbeddedTileStore implements TileStore {
  readonly kind = TILE_STORE_KIND;
  readonly adapterId = 'embedded-online';
  readonly #features = new Map<string, Map<string, KeyTiles>>();
  readonly #watermarks = new Map<string, Map<number, number>>();
  #log: AppendLog | null = null;
  #lock: DirectoryLock | null = null;
  #closed = false;

  private constructor() {}

  static async open(options: EmbeddedTileStoreOptions): Promise<EmbeddedTileStore> {
    const store = new EmbeddedTileStore();
    if (options.dir === null) return store;
    await mkdir(options.dir, { recursive: true });
    try {
      store.#lock = await acquireDirectoryLock(options.dir);
      store.#log = await AppendLog.open(join(options.dir, 'tiles.log'), { fsync: options.fsync ?? 'per-batch', fsyncIntervalMs: 1000 }, (r) => store.#replay(r as LogRecord));
    } catch (error) {
      await store.#lock?.release();
      throw onlineUnavailable(PROVIDER, `cannot open tile store in ${options.dir}: ${(error as Error).message}`, error);
    }
    return store;
  }

  async applyEvents(feature: TileFeature, events: readonly TileEvent[]): Promise<TileApplyResult> {
    this.#assertOpen();
    assertOnlineName(feature.id, '/feature');
    const encoded = events.map((e, i) => {
      try {
        return encodeEntityKey(e.key);
      } catch (error) {
        throw Object.assign(error as Error, { message: `${(error as Error).message} (event ${i})` });
      }
    });
    const lines: string[] = [];
    let applied = 0;
    const straddled: { index: number; seen: number }[] = [];
    const { windowMs, tileMs } = feature.layout;
    events.forEach((e, i) => {
      const key = encoded[i]!;
      const outcome = this.#apply(feature.id, key, windowMs, tileMs, e.tileStart, e.partition, e.offset, e.partial, e.firstOffset ?? e.offset);
      if (outcome === true) {
        applied++;
        // Logged with its last offset only: replaying the log meets the same (lower) applied offsets, so the same verdict.
        if (this.#log) lines.push(AppendLog.frame(['e', feature.id, key, windowMs, tileMs, e.tileStart, e.partition, e.offset, encodePartial(e.partial)] satisfies LogRecord));
      } else if (outcome !== false) straddled.push({ index: i, seen: outcome });
    });
    if (this.#log && lines.length > 0) await this.#log.append(lines);
    return straddled.length > 0 ? { applied, skipped: events.length - applied - straddled.length, straddled } : { applied, skipped: events.length - applied };
  }

  /** true: applied; false: a replay; a number: a pre-combined run straddling that applied offset (not applied). */
  #apply(feature: string, key: string, windowMs: number | null, tileMs: number | null, tileStart: number, partition: number, offset: number, partial: TilePartial, firstOffset = offset): boolean | number {
    let keys = this.#features.get(feature);
    if (!keys) this.#features.set(feature, (keys = new Map()));
    let state = keys.get(key);
    if (!state) keys.set(key, (state = { tiles: new Map(), offsets: new Map(), maxTile: tileStart }));
    if (partition >= 0) {
      const slot = `${tileStart}:${partition}`;
      const seen = state.offsets.get(slot);
      if (seen !== undefined && seen >= offset) return false;
      if (seen !== undefined && seen >= firstOffset) return seen;
      state.offsets.set(slot, offset);
    }
    state.tiles.set(tileStart, combinePartials(state.tiles.get(tileStart) ?? EMPTY_PARTIAL, partial));
    if (tileStart > state.maxTile) {
      state.maxTile = tileStart;
      const threshold = expiryThreshold({ fn: 'count', windowMs, tileMs, allowedLatenessMs: 0 }, tileStart);
      for (const start of state.tiles.keys()) if (start < threshold) state.tiles.delete(start);
      for (const [slot] of state.offsets) if (Number(slot.slice(0, slot.lastIndexOf(':'))) < threshold) state.offsets.delete(slot);
    }
    return true;
  }

  async readTiles(feature: TileFeature, keys: readonly (readonly EntityKeyValue[])[], fromTile: number, toTile: number): Promise<StoredTile[][]> {
    this.#assertOpen();
    const byKey = this.#features.get(feature.id);
    return keys.map((key) => {
      const state = byKey?.get(encodeEntityKey(key));
      if (!state) return [];
      const out: StoredTile[] = [];
      for (const [tileStart, partial] of state.tiles) if (tileStart >= fromTile && tileStart <= toTile) out.push({ tileStart, partial });
      return out.sort((a, b) => a.tileStart - b.tileStart);
    });
  }

  async readWatermarks(stream: string, partitions: readonly number[]): Promise<(number | null)[]> {
    this.#assertOpen();
    const marks = this.#watermarks.get(stream);
    return partitions.map((p) => marks?.get(p) ?? null);
  }

  async writeWatermarks(stream: string, watermarks: readonly { partition: number; watermark: number }[]): Promise<void> {
    this.#assertOpen();
    const lines: string[] = [];
    for (const { partition, watermark } of watermarks) {
      if (this.#raise(stream, partition, watermark) && this.#log) lines.push(AppendLog.frame(['m', stream, partition, watermark] satisfies LogRecord));
    }
    if (this.#log && lines.length > 0) await this.#log.append(lines);
  }

  #raise(stream: string, partition: number, watermark: number): boolean {
    let marks = this.#watermarks.get(stream);
    if (!marks) this.#watermarks.set(stream, (marks = new Map()));
    const current = marks.get(partition);
    if (current !== undefined && current >= watermark) return false;
    marks.set(partition, watermark);
    return true;
  }

  async deleteKeys(feature: TileFeature, keys: readonly (readonly EntityKeyValue[])[]): Promise<number> {
    this.#assertOpen();
    const byKey = this.#features.get(feature.id);
    const lines: string[] = [];
    let deleted = 0;
    for (const key of keys) {
      const encoded = encodeEntityKey(key);
      if (byKey?.delete(encoded)) {
        deleted++;
        if (this.#log) lines.push(AppendLog.frame(['k', feature.id, encoded] satisfies LogRecord));
      }
    }
    if (this.#log && lines.length > 0) await this.#log.append(lines);
    return deleted;
  }

  #replay(record: LogRecord): void {
    switch (record[0]) {
      case 'e':
        this.#apply(record[1], record[2], record[3], record[4], record[5], record[6], record[7], decodePartial(record[8]));
        break;
      case 'k':
        this.#features.get(record[1])?.delete(record[2]);
        break;
      case 'm':
        this.#raise(record[1], record[2], record[3]);
        break;
    }
  }

  #assertOpen(): void {
    if (this.#closed) throw onlineUnavailable(PROVIDER, 'the tile store is closed');
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#log?.close();
    await this.#lock?.release();
  }
}

/** Opens an embedded tile store (see {@link EmbeddedTileStoreOptions}). */
export function createEmbeddedTileStore(options: EmbeddedTileStoreOptions): Promise<EmbeddedTileStore> {
  return EmbeddedTileStore.open(options);
}
