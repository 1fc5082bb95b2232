import type { ColumnType } from '../column-type.js';
import { DefaultSqlCompiler } from '../default-sql-compiler.js';

const SNOWFLAKE_TYPES = {
  string: 'VARCHAR',
  int64: 'NUMBER(38,0)',
  float64: 'DOUBLE',
  boolean: 'BOOLEAN',
  timestamp: 'TIMESTAMP_NTZ',
  timestamptz: 'TIMESTAMP_TZ',
  date: 'DATE',
} as const satisfies Record<ColumnType, string>;

/**
 * Snowflake: double-quoted identifiers (quoted names are case-sensitive), `?` placeholders, `DATEADD` for
 * timestamp arithmetic, `ROW_NUMBER()` with an explicit ORDER BY. String literals escape backslashes (Snowflake
 * processes escape sequences in single-quoted strings).
 *
 * Point-in-time form: the default ranked join for now. Snowflake has `ASOF JOIN … MATCH_CONDITION`; switching
 * to it (`supportsAsofJoin`, `asofJoinSql`, `pickLatest`) waits until it can be checked against fakesnow.
 */
export class SnowflakeSqlCompiler extends DefaultSqlCompiler {
  readonly dialect = 'snowflake' as const;
  protected override readonly maxIdentifierBytes = 255;
  override readonly maxParameters = 16_000;

  protected override columnTypeSql(type: ColumnType): string {
    return SNOWFLAKE_TYPES[type];
  }

  protected override placeholder(): string {
    return '?';
  }

  protected override readonly reusablePlaceholders = false;

  override stringLiteral(value: string): string {
    if (value.includes('\u0000')) return super.stringLiteral(value);
    return `'${value.replaceAll('\\', '\\\\').replaceAll("'", "''")}'`;
  }

  protected override timestampMinusSeconds(expr: string, seconds: number): string {
    if (seconds === 0) return expr;
    return `DATEADD(second, -${seconds}, ${expr})`;
  }

  protected override rowNumberOverAll(): string {
    return 'ROW_NUMBER() OVER (ORDER BY NULL)';
  }
}
