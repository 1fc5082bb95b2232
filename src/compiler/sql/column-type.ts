/**
 * Dialect-neutral column types for tables Trellis creates itself (entity spines, test data, load targets).
 * Each dialect maps them with a `satisfies Record<ColumnType, string>` table.
 *
 * - `timestamp`: a UTC wall-clock timestamp without zone (Postgres `timestamp`, DuckDB `TIMESTAMP`,
 *   Snowflake `TIMESTAMP_NTZ`, BigQuery `DATETIME`… see each compiler).
 * - `timestamptz`: an instant (Postgres `timestamptz`, DuckDB `TIMESTAMPTZ`, Snowflake `TIMESTAMP_TZ`,
 *   BigQuery `TIMESTAMP`).
 */
export type ColumnType = 'string' | 'int64' | 'float64' | 'boolean' | 'timestamp' | 'timestamptz' | 'date';

export const COLUMN_TYPES = [
  'string',
  'int64',
  'float64',
  'boolean',
  'timestamp',
  'timestamptz',
  'date',
] as const satisfies readonly ColumnType[];

/** A column of a table Trellis creates. */
export interface ColumnDefinition {
  readonly name: string;
  readonly type: ColumnType;
}
