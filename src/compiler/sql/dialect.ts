/** SQL dialects Trellis compiles to. Lookup tables over this union use `satisfies Record<Dialect, …>`. */
export type Dialect = 'postgres' | 'duckdb' | 'snowflake' | 'bigquery';

export const DIALECTS = ['postgres', 'duckdb', 'snowflake', 'bigquery'] as const satisfies readonly Dialect[];
