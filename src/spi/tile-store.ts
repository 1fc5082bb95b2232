/**
 * The tile store contract: where stream workers keep per-tile partial aggregates of stream window features, and
 * where the online read path reads them back to combine the tiles of a window (see src/streaming/tiles.ts for the
 * tile math and the boundary rule).
 *
 * Exactly-once effect over at-least-once delivery: every event carries the Kafka (partition, offset) it came from;
 * a store keeps, per tile, the highest offset applied from each partition and skips events at or below it, in the
 * same atomic step as the update. A worker that crashes after writing and before committing its offsets replays
 * the batch, and the replay changes nothing.
 *
 * Objects are recognised by their `kind` tag, never `instanceof` (a plugin may bundle its own copy of this file).
 *
 * @example
 * ```ts
 * import type { TileStore } from '../src/spi/tile-store.js';
 * import { eventPartial, tileLayout } from '../src/streaming/tiles.js';
 *
 * async function countClick(tiles: TileStore): Promise<void> {
 *   const feature = { id: 'clicks_1h@default', entity: 'user@default', layout: tileLayout({ fn: 'count', windowMs: 3_600_000, slideMs: 60_000 }) };
 *   await tiles.applyEvents(feature, [{ key: ['u1'], tileStart: 0, partial: eventPartial(null, 1, 0, 42, true), partition: 0, offset: 42 }]);
 *   const [u1] = await tiles.readTiles(feature, [['u1']], 0, 0); // [{ tileStart: 0, partial: { count: 1, … } }]
 * }
 * ```
 */
import type { EntityKeyValue } from './online-store.js';
import type { TileLayout, TilePartial } from '../streaming/tiles.js';

// The pure tile math adapters need, re-exported so that adapters import only src/spi (tiles.ts has no imports).
export {
  EMPTY_PARTIAL,
  combinePartials,
  compareLast,
  decodePartial,
  encodePartial,
  eventPartial,
  expiryThreshold,
  tileRetentionMs,
  type LastEntry,
  type StreamValue,
  type TileLayout,
  type TilePartial,
} from '../streaming/tiles.js';

/** The `kind` tag of every tile store. */
export const TILE_STORE_KIND = 'trellis.tile-store';

/** A tiled stream feature as a store sees it. */
export interface TileFeature {
  /** Feature id, `name@variant` (see ONLINE_NAME_PATTERN). */
  readonly id: string;
  /** Entity id, `name@variant`. */
  readonly entity: string;
  readonly layout: TileLayout;
}

/** One event's contribution to one tile. */
export interface TileEvent {
  readonly key: readonly EntityKeyValue[];
  /** Start of the tile (see `tileStartOf`). */
  readonly tileStart: number;
  /** The event's own partial (`eventPartial`). */
  readonly partial: TilePartial;
  /** Kafka partition; `-1` for events pushed straight to the store (applied without replay protection). */
  readonly partition: number;
  /** Kafka offset within the partition (a safe integer); for a pre-combined run of events, the run's last offset. */
  readonly offset: number;
  /**
   * A pre-combined run: `partial` combines the partition's events `firstOffset..offset` (in one tile, one key).
   * Default `offset` (a single event).
   */
  readonly firstOffset?: number;
}

/** A stored tile. */
export interface StoredTile {
  readonly tileStart: number;
  readonly partial: TilePartial;
}

/** Outcome of {@link TileStore.applyEvents}; `applied + skipped + straddled.length` equals the number of events. */
export interface TileApplyResult {
  readonly applied: number;
  /** Events at or below the tile's highest applied offset of their partition (replays). */
  readonly skipped: number;
  /**
   * Pre-combined runs with `firstOffset ≤ seen < offset` (`seen`: the tile's highest applied offset of the
   * partition): part of the run is a replay, so nothing of it was applied. The caller re-sends the events above
   * `seen`, combined (see combineTileEvents). Absent when none. Only after a crash or rebalance, when a replayed
   * batch is cut differently from the first attempt.
   */
  readonly straddled?: readonly { readonly index: number; readonly seen: number }[];
}

/**
 * The tile store role. Stores may reject with an OnlineStoreError (`TRELLIS_ERR_ONLINE_UNAVAILABLE` when the
 * service does not answer, `TRELLIS_ERR_VALIDATION` for bad names or keys).
 */
export interface TileStore {
  /** Always {@link TILE_STORE_KIND}. */
  readonly kind: typeof TILE_STORE_KIND;
  /** The adapter id, e.g. `redis`, `embedded-online`. */
  readonly adapterId: string;

  /**
   * Applies events to their tiles. Per (entity key) the update is atomic: for each event, unless the tile already
   * holds an offset ≥ `offset` from `partition`, the partial is combined into the tile and the offset recorded; a
   * pre-combined run (`firstOffset` < `offset`) whose tile holds an offset in `[firstOffset, offset)` is reported
   * in `straddled` instead.
   * Events of one partition must come in offset order. Tiles older than the layout's expiry threshold (relative to
   * the key's newest tile) are dropped on the way. Resolves once the writes are as durable as the store gets.
   */
  applyEvents(feature: TileFeature, events: readonly TileEvent[]): Promise<TileApplyResult>;

  /**
   * The stored tiles with `fromTile ≤ tileStart ≤ toTile` for each key: `result[i]` belongs to `keys[i]`, tiles in
   * ascending start order, missing tiles left out. One round trip per key at most; keys are pipelined.
   */
  readTiles(feature: TileFeature, keys: readonly (readonly EntityKeyValue[])[], fromTile: number, toTile: number): Promise<StoredTile[][]>;

  /**
   * Per-partition watermarks of a stream (`stream` = consumer group + topic): the greatest event time seen in
   * offset order. Workers save them after applying a batch and before committing its offsets, and load them when
   * they are assigned a partition, so the late-event rule gives the same verdicts after a restart.
   */
  readWatermarks(stream: string, partitions: readonly number[]): Promise<(number | null)[]>;

  /** Raises watermarks (never lowers them). */
  writeWatermarks(stream: string, watermarks: readonly { partition: number; watermark: number }[]): Promise<void>;

  /** Removes every tile of `feature` for the keys. Resolves to the number of keys that had tiles. */
  deleteKeys(feature: TileFeature, keys: readonly (readonly EntityKeyValue[])[]): Promise<number>;

  /** Releases connections and files. Idempotent. */
  close(): Promise<void>;
}

/** True for any object tagged as a tile store. */
export function isTileStore(value: unknown): value is TileStore {
  return typeof value === 'object' && value !== null && (value as { kind?: unknown }).kind === TILE_STORE_KIND;
}
