import { isTrellisError } from '../errors/trellis-error.js';
import type { Registry } from '../registry/registry.js';
import { parseRef } from '../registry/resource-ref.js';
import type { EntityKeyValue } from '../spi/online-store.js';
import { resolveStreamFeature, servesFromTiles, type StreamFeatureSpec } from './stream-job.js';
import type { StreamCell } from './stream-reader.js';
import type { StreamRuntime } from './stream-runtime.js';

/**
 * What the online read path (src/serving/online-reader.ts) needs to serve stream features from their tiles: which
 * features are tiled (asked once per read plan, which is rebuilt on every registry change) and the combined window
 * values of tiled features for entity keys at a time.
 */
export interface TileServing {
  /** The tiled feature behind a served feature ref, or null when the feature is served from online cells. */
  tileFeature(ref: string): Promise<StreamFeatureSpec | null>;
  /** `result[i][j]`: the cell of `keys[i]` for `features[j]` (see readStreamFeatures). */
  read(features: readonly StreamFeatureSpec[], keys: readonly (readonly EntityKeyValue[])[], nowMs: number): Promise<(StreamCell | null)[][]>;
}

/** {@link TileServing} over the registry and a StreamRuntime's tile stores. */
export function tileServing(registry: Registry, streams: StreamRuntime): TileServing {
  return {
    async tileFeature(ref) {
      const { name, variant } = parseRef(ref);
      const feature = await registry.get('feature', name, variant);
      if (feature.definition.kind !== 'feature' || !feature.definition.onlineProvider) return null;
      const src = parseRef(feature.definition.source);
      const source = await registry.get('source', src.name, src.variant).catch((error: unknown) => {
        if (isTrellisError(error) && error.code === 'TRELLIS_ERR_NOT_FOUND') return null;
        throw error;
      });
      if (!source || source.definition.kind !== 'source' || !servesFromTiles(source.definition)) return null;
      return resolveStreamFeature(registry, ref);
    },
    read: (features, keys, nowMs) => streams.readSpecs(features, keys, nowMs),
  };
}
