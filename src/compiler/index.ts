/**
 * Public API of the compiler: specs → dialect-neutral plans → `{ sql, parameters }` per dialect.
 *
 * @example
 * import { createSqlCompiler, planTrainingSet } from './compiler/index.js';
 * const { sql, parameters } = createSqlCompiler('postgres').compile(planTrainingSet(spec));
 */
export type {
  AggregationFunction,
  AggregationSpec,
  FeatureSpec,
  LabelSpec,
  MaterializationSpec,
  QueryRelation,
  Relation,
  ResourceReference,
  SourceSpec,
  TableRef,
  TrainingSetSpec,
  TransformationSpec,
  Watermark,
} from './plan/plan-types.js';
export { isQueryRelation } from './plan/plan-types.js';
export type {
  FeatureJoin,
  LatestValueJoin,
  MaterializationPlan,
  OutputColumn,
  OutputColumnRole,
  Plan,
  PlanKind,
  SourceRead,
  SpineRead,
  TrainingSetPlan,
  TransformationPart,
  TransformationPlan,
  WindowAggregateJoin,
} from './plan/plan-nodes.js';
export { FINAL_TIE_BREAK } from './plan/point-in-time-contract.js';
export { planTrainingSet } from './plan/plan-training-set.js';
export { planMaterialization, EVENT_TIMESTAMP_OUTPUT, CREATED_TIMESTAMP_OUTPUT } from './plan/plan-materialization.js';
export { planTransformation, transformationReferences } from './plan/plan-transformation.js';
export { resourceColumnName } from './plan/plan-feature-join.js';
export type { Dialect } from './sql/dialect.js';
export { DIALECTS } from './sql/dialect.js';
export type { CompiledParameter, CompiledQuery } from './sql/compiled-query.js';
export { compiledQuery } from './sql/compiled-query.js';
export type { ColumnDefinition, ColumnType } from './sql/column-type.js';
export { COLUMN_TYPES } from './sql/column-type.js';
export type { CompileOptions, SqlCompiler } from './sql/sql-compiler.js';
export { DefaultSqlCompiler } from './sql/default-sql-compiler.js';
export { PostgresSqlCompiler } from './sql/postgres/postgres-sql-compiler.js';
export { DuckDbSqlCompiler } from './sql/duckdb/duckdb-sql-compiler.js';
export { SnowflakeSqlCompiler } from './sql/snowflake/snowflake-sql-compiler.js';
export { BigQuerySqlCompiler } from './sql/bigquery/bigquery-sql-compiler.js';
export { createSqlCompiler } from './sql/create-sql-compiler.js';
export type { StreamWindowFeatureSpec, StreamWindowFunction, StreamWindowJoin, StreamWindowPlan, StreamWindowSpec, StreamWindowSpine } from './plan/plan-stream-window.js';
export { planStreamWindow, planStreamWindowJoin } from './plan/plan-stream-window.js';
export { compileStreamWindow } from './sql/stream-window-sql.js';
