import type { SourceSpec } from '../compiler/plan/plan-types.js';
import type { StreamWindowFeatureSpec } from '../compiler/plan/plan-stream-window.js';
import { parseRef } from '../registry/resource-ref.js';
import type { StreamFeatureShape } from './stream-job.js';

/** Where a topic's events land in the warehouse: the offline copy's relation and its column names. */
export interface OfflineCopy {
  readonly source: SourceSpec;
  /** Copy columns of the feature's key fields, in order (default: the same names). */
  readonly keyColumns?: readonly string[];
  /** Copy column of the feature's value field (default: the same name). */
  readonly valueColumn?: string;
  /** `last` tie-break after event time, as the stream orders it: the Kafka partition and offset columns. */
  readonly orderColumns?: readonly string[];
}

/**
 * The compiler spec of a stream feature over its topic's offline copy: the same function, window and slide as the
 * tiles (`feature.layout`), so `compileStreamWindow(planStreamWindow({ spine, features }))` computes what the
 * online read serves for the same events (see src/compiler/plan/plan-stream-window.ts).
 */
export function streamFeatureOverCopy(feature: StreamFeatureShape, copy: OfflineCopy): StreamWindowFeatureSpec {
  const { name, variant } = parseRef(feature.id);
  const column = feature.valueField === null ? undefined : (copy.valueColumn ?? feature.valueField);
  return {
    name,
    variant: variant ?? 'default',
    source: copy.source,
    entityKeyColumns: copy.keyColumns ?? feature.keyFields,
    fn: feature.layout.fn,
    ...(column === undefined ? {} : { column }),
    ...(feature.layout.windowMs === null ? {} : { windowMs: feature.layout.windowMs }),
    ...(feature.layout.tileMs === null ? {} : { slideMs: feature.layout.tileMs }),
    ...(copy.orderColumns ? { orderColumns: copy.orderColumns } : {}),
  };
}
