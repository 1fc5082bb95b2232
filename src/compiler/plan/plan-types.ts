/**
 * The compiler's own input types. They are deliberately decoupled from the registry's resource model: the
 * coordinator maps registry resources (sources, transformations, features, labels, training sets) onto these
 * specs, and the planners in this folder turn them into dialect-neutral plans.
 *
 * Every name in a spec is an *identifier*, never SQL: the compiler validates it and always quotes it for the
 * target dialect, so a column called `a"; DROP TABLE x; --` is just an odd column name.
 * The only SQL text a spec may carry is a `QueryRelation` or a transformation template, which are trusted
 * definitions written by the data pipeline owner (like a view definition).
 */
import type { StreamWindowFeatureSpec } from './plan-stream-window.js';

/**
 * A table or view inside one offline provider. `catalog` is the Snowflake database, BigQuery project or DuckDB
 * attached database; `schema` the schema / BigQuery dataset. Omitted parts resolve against the connection's
 * defaults (Postgres `search_path`, DuckDB `main`, …).
 *
 * @example const t: TableRef = { schema: 'analytics', name: 'user_events' };
 */
export interface TableRef {
  readonly catalog?: string;
  readonly schema?: string;
  readonly name: string;
}

/** A relation given as a SQL query (trusted text, inlined as a parenthesised subquery). */
export interface QueryRelation {
  readonly sql: string;
}

/** What a source reads from: a table/view or a query. */
export type Relation = TableRef | QueryRelation;

export function isQueryRelation(relation: Relation): relation is QueryRelation {
  return typeof (relation as QueryRelation).sql === 'string';
}

/**
 * A batch source: a relation with its event-timestamp column and, optionally, a created (ingestion)
 * timestamp column used as the second ordering key when two rows share an event timestamp.
 */
export interface SourceSpec {
  readonly relation: Relation;
  readonly timestampColumn: string;
  readonly createdTimestampColumn?: string;
}

/** Window aggregation functions for features defined as aggregations. */
export type AggregationFunction = 'count' | 'sum' | 'avg' | 'min' | 'max';

/**
 * A window aggregation evaluated at time `t` over the source rows with the same keys and
 * `t − lag − window < ts ≤ t − lag`. `column` is required except for `count`, where omitting it counts rows
 * (`COUNT(*)`) and naming it counts non-null values. SQL null rules apply: sum/avg/min/max ignore nulls;
 * no rows → count 0, the others null. `avg` is returned as a double.
 */
export interface AggregationSpec {
  readonly fn: AggregationFunction;
  readonly column?: string;
  readonly windowSeconds: number;
}

/**
 * A feature as the compiler needs it.
 *
 * - `entityKeyColumns`: source columns holding the entity key, in entity-key order; they are matched by
 *   position to the label's (or spine's) key columns.
 * - `valueColumn`: the value served/joined. Ignored when `aggregation` is set.
 * - `ttlSeconds`: a row older than `t − lag − ttl` is not used (lower bound inclusive). Omit for no TTL.
 * - `lagSeconds`: only rows with `ts ≤ t − lag` are visible (default 0). Used by training sets only;
 *   materialization ignores lag (online serving is "now").
 */
export interface FeatureSpec {
  readonly name: string;
  readonly variant: string;
  readonly source: SourceSpec;
  readonly entityKeyColumns: readonly string[];
  readonly valueColumn: string;
  readonly ttlSeconds?: number;
  readonly lagSeconds?: number;
  readonly aggregation?: AggregationSpec;
}

/**
 * A label: the spine of a training set. Every row of the label's relation becomes exactly one output row
 * (duplicates included), keyed by `entityKeyColumns` at the time in `source.timestampColumn`.
 */
export interface LabelSpec {
  readonly name: string;
  readonly variant: string;
  readonly source: SourceSpec;
  readonly entityKeyColumns: readonly string[];
  readonly valueColumn: string;
}

/**
 * A training set: the label spine point-in-time joined with features (all in the label's provider).
 *
 * Output columns, in order (see `trainingSetOutputColumns`):
 * 1. one column per entity key, named `keyNames[i]` (default: the label's key column names);
 * 2. the label event timestamp, named `timestampName` (default: the label's timestamp column name);
 * 3. one column per feature, named `<feature>__<variant>` — unambiguous because resource names and variants
 *    never contain `__`;
 * 4. the label value, named `<label>__<variant>`.
 * Two output columns with the same name are refused at planning time (`TRELLIS_ERR_INVALID_DEFINITION`),
 * e.g. a label key column literally called `clicks__default` next to the feature `clicks@default`.
 */
export interface TrainingSetSpec {
  readonly label: LabelSpec;
  /** Batch features, and stream features over their topic's offline copy (evaluated like the online tiles). */
  readonly features: readonly (FeatureSpec | StreamWindowFeatureSpec)[];
  readonly keyNames?: readonly string[];
  readonly timestampName?: string;
}

/** A reference inside a transformation template: `{{ name.variant }}` or `{{ name }}` (variant omitted). */
export interface ResourceReference {
  readonly name: string;
  readonly variant?: string;
}

/**
 * A SQL transformation. `sql` may reference sources/transformations as `{{ name.variant }}`; each reference is
 * resolved by `resolve` (the caller's lookup: registry resource → physical table in this provider) and
 * replaced by the dialect-correct fully-quoted name. With `incremental`, the compiled query keeps only the rows
 * whose `watermarkColumn` lies in `(since, until]` of the `TransformationWindow` given at compile time.
 */
export interface TransformationSpec {
  readonly sql: string;
  readonly resolve: (reference: ResourceReference) => TableRef;
  readonly output: TableRef;
  readonly incremental?: { readonly watermarkColumn: string };
}

/** A point in event time. Passed to the engine as a bound parameter (an ISO-8601 UTC instant). */
export type Watermark = Date;

/**
 * A materialization query: for every entity key, the feature value as of `asOf`.
 * - Value features: the latest row with `ts ≤ asOf`, ordered like the point-in-time join (event ts, then
 *   created ts, then the final tie-break). With `since`, only keys that have a row with `since < ts ≤ asOf`
 *   are returned (their latest row is necessarily in that range), i.e. the incremental form.
 * - Aggregation features: the window value over `asOf − window < ts ≤ asOf`, for every key with a row
 *   `ts ≤ asOf` (full) or, with `since`, for every key whose window value may have changed: a row with
 *   `since − window < ts ≤ asOf` (rows entering or leaving the window).
 * Rows whose key has a null component are never materialized (they cannot be served).
 */
export interface MaterializationSpec {
  readonly feature: FeatureSpec;
  readonly asOf: Watermark;
  readonly since?: Watermark;
}
