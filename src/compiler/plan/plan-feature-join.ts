import { invalidDefinition } from '../../errors/trellis-error.js';
import type { FeatureJoin } from './plan-nodes.js';
import type { FeatureSpec } from './plan-types.js';
import {
  checkAggregationFunction,
  checkIdentifier,
  checkKeyColumns,
  checkSeconds,
  readSource,
} from './spec-validation.js';

/** Output column name of a feature (or label): `<name>__<variant>`. */
export function resourceColumnName(name: string, variant: string): string {
  return `${name}__${variant}`;
}

/**
 * Validates one feature spec and turns it into its join node. `expectedKeys` is the spine's key count
 * (features are matched to the spine's keys by position).
 */
export function planFeatureJoin(feature: FeatureSpec, pointer: string, expectedKeys?: number): FeatureJoin {
  if (typeof feature !== 'object' || feature === null) throw invalidDefinition(pointer, 'must be a feature');
  const name = checkIdentifier(feature.name, `${pointer}/name`);
  const variant = checkIdentifier(feature.variant, `${pointer}/variant`);
  const keyColumns = checkKeyColumns(feature.entityKeyColumns, `${pointer}/entityKeyColumns`, expectedKeys);
  const source = readSource(feature.source, keyColumns, `${pointer}/source`);
  const lagSeconds = feature.lagSeconds === undefined ? 0 : checkSeconds(feature.lagSeconds, `${pointer}/lagSeconds`);
  const outputName = resourceColumnName(name, variant);
  if (feature.aggregation !== undefined) {
    const aggregation = feature.aggregation;
    const fn = checkAggregationFunction(aggregation.fn, `${pointer}/aggregation/fn`);
    if (aggregation.column === undefined && fn !== 'count') {
      throw invalidDefinition(`${pointer}/aggregation/column`, `is required for ${fn}`);
    }
    if (feature.ttlSeconds !== undefined) {
      throw invalidDefinition(`${pointer}/ttlSeconds`, 'does not apply to a window aggregation (the window bounds it)');
    }
    return Object.freeze({
      kind: 'window-aggregate',
      outputName,
      source,
      fn,
      column: aggregation.column === undefined ? undefined : checkIdentifier(aggregation.column, `${pointer}/aggregation/column`),
      windowSeconds: checkSeconds(aggregation.windowSeconds, `${pointer}/aggregation/windowSeconds`, { positive: true }),
      lagSeconds,
    });
  }
  return Object.freeze({
    kind: 'latest-value',
    outputName,
    source,
    valueColumn: checkIdentifier(feature.valueColumn, `${pointer}/valueColumn`),
    ttlSeconds: feature.ttlSeconds === undefined ? undefined : checkSeconds(feature.ttlSeconds, `${pointer}/ttlSeconds`),
    lagSeconds,
  });
}
