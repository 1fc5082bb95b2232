/** The specs behind the golden SQL files: one per plan kind, plus one with hostile identifiers. */
import { planMaterialization } from '../../src/compiler/plan/plan-materialization.js';
import type { Plan } from '../../src/compiler/plan/plan-nodes.js';
import { planTrainingSet } from '../../src/compiler/plan/plan-training-set.js';
import { planTransformation } from '../../src/compiler/plan/plan-transformation.js';
import type { StreamWindowFeatureSpec } from '../../src/compiler/plan/plan-stream-window.js';
import type { FeatureSpec, LabelSpec } from '../../src/compiler/plan/plan-types.js';

const events = { relation: { schema: 'raw', name: 'events' }, timestampColumn: 'event_ts', createdTimestampColumn: 'loaded_at' };
const payments = { relation: { sql: 'SELECT user_id, region, paid_at, amount FROM raw.payments WHERE amount > 0;' }, timestampColumn: 'paid_at' };

const label: LabelSpec = {
  name: 'churn',
  variant: 'v1',
  source: { relation: { schema: 'ml', name: 'labels' }, timestampColumn: 'label_ts' },
  entityKeyColumns: ['user_id', 'region'],
  valueColumn: 'churned',
};

const clicks: FeatureSpec = {
  name: 'clicks',
  variant: 'v1',
  source: events,
  entityKeyColumns: ['user_id', 'region'],
  valueColumn: 'clicks',
  ttlSeconds: 86_400,
  lagSeconds: 60,
};
const sessions: FeatureSpec = { ...clicks, name: 'sessions', valueColumn: 'sessions', ttlSeconds: undefined };
const lastPayment: FeatureSpec = {
  name: 'last_payment',
  variant: 'default',
  source: payments,
  entityKeyColumns: ['user_id', 'region'],
  valueColumn: 'amount',
};
const clicks7d: FeatureSpec = {
  name: 'clicks_7d',
  variant: 'v1',
  source: events,
  entityKeyColumns: ['user_id', 'region'],
  valueColumn: 'clicks',
  aggregation: { fn: 'count', windowSeconds: 7 * 86_400 },
};
const avgAmount1h: FeatureSpec = {
  ...lastPayment,
  name: 'avg_amount_1h',
  lagSeconds: 300,
  aggregation: { fn: 'avg', column: 'amount', windowSeconds: 3600 },
};

/** Stream features over a topic's offline copy, beside a batch feature. */
const copy = { relation: { schema: 'raw', name: 'click_events' }, timestampColumn: 'event_ts' };
const streamFeature = (name: string, extra: Partial<StreamWindowFeatureSpec> & Pick<StreamWindowFeatureSpec, 'fn'>): StreamWindowFeatureSpec => ({
  name, variant: 'v1', source: copy, entityKeyColumns: ['user_id', 'region'], orderColumns: ['kafka_partition', 'kafka_offset'], ...extra,
});

const asOf = new Date('2024-06-01T00:00:00.000Z');
const since = new Date('2024-05-31T00:00:00.000Z');

export const goldenPlans = {
  'training-set': planTrainingSet({ label, features: [clicks, sessions, lastPayment, clicks7d, avgAmount1h] }),
  'training-set-stream': planTrainingSet({
    label,
    features: [
      clicks,
      streamFeature('clicks_1h', { fn: 'count', windowMs: 3_600_000, slideMs: 60_000 }),
      streamFeature('amount_avg_10m', { fn: 'avg', column: 'amount', windowMs: 600_000, lagSeconds: 30 }),
      streamFeature('last_amount', { fn: 'last', column: 'amount', ttlSeconds: 86_400 }),
    ],
  }),
  'materialization-latest': planMaterialization({ feature: clicks, asOf, since }),
  'materialization-window': planMaterialization({ feature: avgAmount1h, asOf }),
  transformation: planTransformation(
    {
      sql: 'SELECT e.user_id, e.region, e.event_ts, count(*) AS n\nFROM {{ events.v1 }} e JOIN {{ users }} u USING (user_id)\nGROUP BY 1, 2, 3 -- daily',
      resolve: (ref) => ({ schema: 'raw', name: ref.variant === undefined ? ref.name : `${ref.name}_${ref.variant}` }),
      output: { schema: 'features', name: 'event_counts' },
      incremental: { watermarkColumn: 'event_ts' },
    },
    { since, until: asOf },
  ),
  hostile: planTrainingSet({
    label: {
      name: 'l"abel',
      variant: "v'1",
      source: { relation: { schema: 'sch`ema', name: 'la"bels; DROP TABLE x; --' }, timestampColumn: 't\\s' },
      entityKeyColumns: ['k"e`y'],
      valueColumn: "y'; --",
    },
    features: [
      {
        name: 'f`"',
        variant: 'v--1',
        source: { relation: { name: 'src`); DELETE FROM y; --' }, timestampColumn: 'ts"', createdTimestampColumn: 'c`r' },
        entityKeyColumns: ["k'ey"],
        valueColumn: 'v\\al`"',
        ttlSeconds: 10,
      },
    ],
  }),
} satisfies Record<string, Plan>;

export type GoldenCase = keyof typeof goldenPlans;
