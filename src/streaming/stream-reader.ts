import type { EntityKeyValue } from '../spi/online-store.js';
import type { TileFeature, TileStore } from '../spi/tile-store.js';
import { EMPTY_PARTIAL, combinePartials, coveringTiles, finalizePartial, type StreamValue, type TilePartial } from './tiles.js';

/**
 * One stream feature value as the read path serves it. `eventTs` is the time the value is exact for: the window
 * end `⌊now / slide⌋·slide` for window aggregations, the event time of the value for `last`. `latestEventTs` is the
 * newest event time among the window's events (freshness; null when the window is empty).
 */
export interface StreamCell {
  readonly value: StreamValue;
  readonly eventTs: number;
  readonly latestEventTs: number | null;
}

/**
 * Reads stream features for entity keys at `nowMs`: for each feature, the tiles covering its window (one pipelined
 * read per feature), combined. `result[i][j]` is the cell of `keys[i]` for `features[j]`:
 * - count: `{ value: n }` (0 for a key without events in the window);
 * - sum / avg / min / max: `{ value: null }` when the window holds no value;
 * - last: null (NOT_FOUND) when the key has no event in the window.
 * Features may live in different stores: `tileStoreFor` picks each one's store (the same store for all is fine).
 */
export async function readStreamFeatures(
  tileStore: TileStore | ((feature: TileFeature) => TileStore),
  features: readonly TileFeature[],
  keys: readonly (readonly EntityKeyValue[])[],
  nowMs: number,
): Promise<(StreamCell | null)[][]> {
  const storeOf = typeof tileStore === 'function' ? tileStore : () => tileStore;
  const columns = await Promise.all(
    features.map(async (feature) => {
      const { fromTile, toTile, windowEnd } = coveringTiles(feature.layout, nowMs);
      const tiles = await storeOf(feature).readTiles(feature, keys, fromTile, toTile);
      return tiles.map((list): StreamCell | null => {
        let acc: TilePartial | null = null;
        let latest: number | null = null;
        for (const tile of list) {
          acc = combinePartials(acc ?? EMPTY_PARTIAL, tile.partial);
          if (tile.partial.last && (latest === null || tile.partial.last.ts > latest)) latest = tile.partial.last.ts;
        }
        const fn = feature.layout.fn;
        if (fn === 'last') return acc?.last ? { value: acc.last.value, eventTs: acc.last.ts, latestEventTs: acc.last.ts } : null;
        return { value: finalizePartial(fn, acc), eventTs: windowEnd, latestEventTs: latest };
      });
    }),
  );
  return keys.map((_, i) => columns.map((column) => column[i] ?? null));
}
