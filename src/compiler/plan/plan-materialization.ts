import { invalidDefinition } from '../../errors/trellis-error.js';
import { planFeatureJoin } from './plan-feature-join.js';
import type { MaterializationPlan, OutputColumn } from './plan-nodes.js';
import type { MaterializationSpec } from './plan-types.js';
import { checkDistinctNames, checkWatermark } from './spec-validation.js';

/** Output name of the event timestamp column of a materialization query. */
export const EVENT_TIMESTAMP_OUTPUT = '__trellis_event_ts';
/** Output name of the created timestamp column of a materialization query. */
export const CREATED_TIMESTAMP_OUTPUT = '__trellis_created_ts';

/**
 * Validates a materialization spec and returns its plan. Output columns: the source key columns (entity order),
 * the value as `<feature>__<variant>`, `__trellis_event_ts` and `__trellis_created_ts`. The feature's lag is
 * ignored (materialization serves "now"); TTL is not applied either — the online store enforces it on read
 * from the event timestamp.
 */
export function planMaterialization(spec: MaterializationSpec): MaterializationPlan {
  if (typeof spec !== 'object' || spec === null) throw invalidDefinition('', 'must be a materialization');
  const asOf = checkWatermark(spec.asOf, '/asOf');
  const since = spec.since === undefined ? undefined : checkWatermark(spec.since, '/since');
  if (since !== undefined && since.getTime() > asOf.getTime()) throw invalidDefinition('/since', 'is after asOf');
  const feature = planFeatureJoin(spec.feature, '/feature');
  const keyOutputNames = feature.source.keyColumns;
  checkDistinctNames([
    ...keyOutputNames.map((name, i) => ({ name, owner: `/feature/entityKeyColumns/${i}` })),
    { name: feature.outputName, owner: '/feature' },
    { name: EVENT_TIMESTAMP_OUTPUT, owner: 'the event timestamp' },
    { name: CREATED_TIMESTAMP_OUTPUT, owner: 'the created timestamp' },
  ]);
  const columns: OutputColumn[] = [
    ...keyOutputNames.map((name) => ({ name, role: 'key' as const })),
    { name: feature.outputName, role: 'feature' },
    { name: EVENT_TIMESTAMP_OUTPUT, role: 'timestamp' },
    { name: CREATED_TIMESTAMP_OUTPUT, role: 'created_timestamp' },
  ];
  return Object.freeze({
    kind: 'materialization',
    feature,
    asOf: new Date(asOf.getTime()),
    since: since === undefined ? undefined : new Date(since.getTime()),
    keyOutputNames,
    valueOutputName: feature.outputName,
    eventTimestampOutputName: EVENT_TIMESTAMP_OUTPUT,
    createdTimestampOutputName: CREATED_TIMESTAMP_OUTPUT,
    columns: Object.freeze(columns.map((c) => Object.freeze(c))),
  });
}
