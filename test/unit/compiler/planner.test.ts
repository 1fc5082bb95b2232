import { describe, expect, it } from 'vitest';
import { isTrellisError } from '../../../src/errors/trellis-error.js';
import { planMaterialization } from '../../../src/compiler/plan/plan-materialization.js';
import { planTrainingSet } from '../../../src/compiler/plan/plan-training-set.js';
import { planTransformation, transformationReferences } from '../../../src/compiler/plan/plan-transformation.js';
import type { FeatureSpec, LabelSpec, TrainingSetSpec } from '../../../src/compiler/plan/plan-types.js';

const label: LabelSpec = {
  name: 'churn',
  variant: 'v1',
  source: { relation: { name: 'labels' }, timestampColumn: 'ts' },
  entityKeyColumns: ['user_id'],
  valueColumn: 'churned',
};
const feature: FeatureSpec = {
  name: 'clicks',
  variant: 'default',
  source: { relation: { schema: 'raw', name: 'events' }, timestampColumn: 'ts', createdTimestampColumn: 'loaded_at' },
  entityKeyColumns: ['uid'],
  valueColumn: 'clicks',
  ttlSeconds: 3600,
};

function invalid(fn: () => unknown): { pointer: unknown; message: string } {
  try {
    fn();
  } catch (error) {
    expect(isTrellisError(error)).toBe(true);
    const e = error as { code: string; details?: { pointer?: unknown }; message: string };
    expect(e.code).toBe('TRELLIS_ERR_INVALID_DEFINITION');
    return { pointer: e.details?.pointer, message: e.message };
  }
  throw new Error('expected an invalid definition');
}

describe('planTrainingSet', () => {
  it('names output columns keys, timestamp, <feature>__<variant>…, <label>__<variant> and freezes the plan', () => {
    const plan = planTrainingSet({ label, features: [feature, { ...feature, variant: 'v2', lagSeconds: 60 }] });
    expect(plan.columns).toEqual([
      { name: 'user_id', role: 'key' },
      { name: 'ts', role: 'timestamp' },
      { name: 'clicks__default', role: 'feature' },
      { name: 'clicks__v2', role: 'feature' },
      { name: 'churn__v1', role: 'label' },
    ]);
    expect(Object.isFrozen(plan)).toBe(true);
    expect(Object.isFrozen(plan.features[0])).toBe(true);
    expect(plan.features[1]).toMatchObject({ kind: 'latest-value', lagSeconds: 60, ttlSeconds: 3600 });
  });

  it('takes optional output names for keys and timestamp', () => {
    const plan = planTrainingSet({ label, features: [feature], keyNames: ['user'], timestampName: 'event_time' });
    expect(plan.columns.map((c) => c.name)).toEqual(['user', 'event_time', 'clicks__default', 'churn__v1']);
  });

  it('refuses colliding output names, naming both', () => {
    const spec: TrainingSetSpec = { label: { ...label, entityKeyColumns: ['clicks__default'] }, features: [{ ...feature }] };
    const { pointer, message } = invalid(() => planTrainingSet(spec));
    expect(pointer).toBe('/features/0');
    expect(message).toContain('/label/entityKeyColumns/0');
    expect(invalid(() => planTrainingSet({ label, features: [feature, feature] })).pointer).toBe('/features/1');
    expect(invalid(() => planTrainingSet({ label: { ...label, name: 'clicks', variant: 'default' }, features: [feature] })).pointer).toBe('/label');
  });

  it('validates keys, durations, aggregations and identifiers with JSON pointers', () => {
    expect(invalid(() => planTrainingSet({ label, features: [{ ...feature, entityKeyColumns: ['a', 'b'] }] })).pointer).toBe('/features/0/entityKeyColumns');
    expect(invalid(() => planTrainingSet({ label, features: [{ ...feature, ttlSeconds: -1 }] })).pointer).toBe('/features/0/ttlSeconds');
    expect(invalid(() => planTrainingSet({ label, features: [{ ...feature, lagSeconds: 1.5 }] })).pointer).toBe('/features/0/lagSeconds');
    expect(invalid(() => planTrainingSet({ label, features: [{ ...feature, valueColumn: '' }] })).pointer).toBe('/features/0/valueColumn');
    expect(invalid(() => planTrainingSet({ label, features: [{ ...feature, valueColumn: 'a\u0000b' }] })).pointer).toBe('/features/0/valueColumn');
    expect(invalid(() => planTrainingSet({ label: { ...label, entityKeyColumns: [] }, features: [] })).pointer).toBe('/label/entityKeyColumns');
    const agg = { ...feature, ttlSeconds: undefined };
    expect(invalid(() => planTrainingSet({ label, features: [{ ...agg, aggregation: { fn: 'sum', windowSeconds: 60 } }] })).pointer).toBe('/features/0/aggregation/column');
    expect(invalid(() => planTrainingSet({ label, features: [{ ...agg, aggregation: { fn: 'count', windowSeconds: 0 } }] })).pointer).toBe('/features/0/aggregation/windowSeconds');
    expect(invalid(() => planTrainingSet({ label, features: [{ ...agg, aggregation: { fn: 'median' as 'sum', column: 'x', windowSeconds: 5 } }] })).pointer).toBe('/features/0/aggregation/fn');
    expect(invalid(() => planTrainingSet({ label, features: [{ ...feature, aggregation: { fn: 'count', windowSeconds: 5 } }] })).pointer).toBe('/features/0/ttlSeconds');
    expect(invalid(() => planTrainingSet({ label, features: [{ ...feature, source: { ...feature.source, relation: { sql: '  ' } } }] })).pointer).toBe('/features/0/source/relation/sql');
  });
});

describe('planMaterialization', () => {
  it('outputs keys, <feature>__<variant> and the event/created timestamps', () => {
    const plan = planMaterialization({ feature, asOf: new Date('2024-01-02T00:00:00Z'), since: new Date('2024-01-01T00:00:00Z') });
    expect(plan.columns.map((c) => c.name)).toEqual(['uid', 'clicks__default', '__trellis_event_ts', '__trellis_created_ts']);
    expect(plan.since?.toISOString()).toBe('2024-01-01T00:00:00.000Z');
  });
  it('refuses since after asOf and invalid dates', () => {
    expect(invalid(() => planMaterialization({ feature, asOf: new Date(0), since: new Date(1) })).pointer).toBe('/since');
    expect(invalid(() => planMaterialization({ feature, asOf: new Date(Number.NaN) })).pointer).toBe('/asOf');
  });
});

describe('planTransformation', () => {
  const resolve = (ref: { name: string; variant?: string }) => ({ schema: 'raw', name: `${ref.name}_${ref.variant ?? 'latest'}` });
  it('splits the template into text and resolved tables', () => {
    const plan = planTransformation({ sql: 'SELECT * FROM {{ events.v1 }} e JOIN {{users}} u USING (id)', resolve, output: { name: 'out' } });
    expect(plan.parts).toEqual([
      { text: 'SELECT * FROM ' },
      { table: { schema: 'raw', name: 'events_v1' } },
      { text: ' e JOIN ' },
      { table: { schema: 'raw', name: 'users_latest' } },
      { text: ' u USING (id)' },
    ]);
    expect(transformationReferences('{{ a.v1 }} {{a.v1}} {{ b }}')).toEqual([{ name: 'a', variant: 'v1' }, { name: 'b' }]);
  });
  it('refuses malformed references and a missing incremental window', () => {
    expect(invalid(() => planTransformation({ sql: 'SELECT * FROM {{ bad-name }}', resolve, output: { name: 'o' } })).pointer).toBe('/sql');
    expect(
      invalid(() => planTransformation({ sql: 'SELECT 1', resolve, output: { name: 'o' }, incremental: { watermarkColumn: 'ts' } })).pointer,
    ).toBe('/incremental');
  });
});
