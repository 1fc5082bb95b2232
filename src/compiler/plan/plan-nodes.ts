/**
 * Dialect-neutral plan nodes. A plan is what a spec means, fully validated and resolved (defaults applied,
 * output names chosen, references resolved), with no SQL in it except trusted query relations and
 * transformation text. A `SqlCompiler` turns a plan into `{ sql, parameters }` for one dialect.
 *
 * Plans are plain frozen data: they can be logged, compared and golden-tested.
 */
import type { StreamWindowJoin } from './plan-stream-window.js';
import type { AggregationFunction, Relation, TableRef, Watermark } from './plan-types.js';

/** What an output column of a plan holds. */
export type OutputColumnRole = 'key' | 'timestamp' | 'created_timestamp' | 'feature' | 'label';

export interface OutputColumn {
  readonly name: string;
  readonly role: OutputColumnRole;
}

/** A source as the compiler reads it: relation, key columns (entity order), event and created timestamps. */
export interface SourceRead {
  readonly relation: Relation;
  readonly keyColumns: readonly string[];
  readonly timestampColumn: string;
  readonly createdTimestampColumn: string | undefined;
}

/**
 * Point-in-time lookup of one value column: the row with `keys = k`, `ts ≤ t − lag` and (with a TTL)
 * `ts ≥ t − lag − ttl`, ordered by `ts` DESC, then created ts DESC (NULL lowest), then value DESC (NULL lowest).
 * See `FINAL_TIE_BREAK` in point-in-time-contract.ts.
 */
export interface LatestValueJoin {
  readonly kind: 'latest-value';
  readonly outputName: string;
  readonly source: SourceRead;
  readonly valueColumn: string;
  readonly ttlSeconds: number | undefined;
  readonly lagSeconds: number;
}

/** Window aggregation over `t − lag − window < ts ≤ t − lag` for the same keys. */
export interface WindowAggregateJoin {
  readonly kind: 'window-aggregate';
  readonly outputName: string;
  readonly source: SourceRead;
  readonly fn: AggregationFunction;
  /** `undefined` only for `count` (= `COUNT(*)`). */
  readonly column: string | undefined;
  readonly windowSeconds: number;
  readonly lagSeconds: number;
}

export type FeatureJoin = LatestValueJoin | WindowAggregateJoin;

/** A training set's feature: a batch join, or a stream feature over its topic's offline copy. */
export type TrainingSetFeatureJoin = FeatureJoin | StreamWindowJoin;

/** The label spine: every row of `relation` is one output row, duplicates included. */
export interface SpineRead {
  readonly relation: Relation;
  readonly keyColumns: readonly string[];
  readonly timestampColumn: string;
  readonly valueColumn: string;
}

export interface TrainingSetPlan {
  readonly kind: 'training-set';
  readonly spine: SpineRead;
  readonly features: readonly TrainingSetFeatureJoin[];
  /** Output names of the key columns (entity order) and of the label timestamp and value. */
  readonly keyOutputNames: readonly string[];
  readonly timestampOutputName: string;
  readonly labelOutputName: string;
  /** All output columns in order: keys, timestamp, features (in spec order), label. */
  readonly columns: readonly OutputColumn[];
}

export interface MaterializationPlan {
  readonly kind: 'materialization';
  readonly feature: FeatureJoin;
  readonly asOf: Watermark;
  readonly since: Watermark | undefined;
  /** Output names of the key columns (the source key columns). */
  readonly keyOutputNames: readonly string[];
  /** Output name of the value: `<feature>__<variant>`. */
  readonly valueOutputName: string;
  /** Event timestamp of the value (for aggregations: the latest event in the window, null if none). */
  readonly eventTimestampOutputName: string;
  /** Created timestamp of the chosen row (null without a created column, and for aggregations). */
  readonly createdTimestampOutputName: string;
  readonly columns: readonly OutputColumn[];
}

/** A piece of a transformation: trusted SQL text or a resolved table reference. */
export type TransformationPart = { readonly text: string } | { readonly table: TableRef };

export interface TransformationPlan {
  readonly kind: 'transformation';
  readonly parts: readonly TransformationPart[];
  readonly output: TableRef;
  /** Incremental window: keep rows with `since < watermarkColumn ≤ until` (`since` omitted: no lower bound). */
  readonly incremental:
    | { readonly watermarkColumn: string; readonly since: Watermark | undefined; readonly until: Watermark }
    | undefined;
}

export type Plan = TrainingSetPlan | MaterializationPlan | TransformationPlan;
export type PlanKind = Plan['kind'];
