import { invalidDefinition } from '../../../errors/trellis-error.js';
import type { ColumnType } from '../column-type.js';
import { DefaultSqlCompiler } from '../default-sql-compiler.js';

const BIGQUERY_TYPES = {
  string: 'STRING',
  int64: 'INT64',
  float64: 'FLOAT64',
  boolean: 'BOOL',
  timestamp: 'DATETIME',
  timestamptz: 'TIMESTAMP',
  date: 'DATE',
} as const satisfies Record<ColumnType, string>;

/**
 * BigQuery (GoogleSQL): backtick-quoted identifiers, whose body uses string-literal escape rules — so a
 * backtick or backslash in a name is backslash-escaped —, named `@pN` parameters, `- INTERVAL n SECOND` arithmetic,
 * `TEMP` tables. Point-in-time form: the default ranked join.
 */
export class BigQuerySqlCompiler extends DefaultSqlCompiler {
  readonly dialect = 'bigquery' as const;
  override readonly caseSensitiveIdentifiers = false;
  protected override readonly identifierQuote = '`';
  protected override readonly maxIdentifierBytes = 1024;
  override readonly maxParameters = 10_000;

  protected override validateIdentifier(name: string): void {
    super.validateIdentifier(name);
    if (name.includes('\n') || name.includes('\r')) throw invalidDefinition('', `identifier ${JSON.stringify(name)} contains a line break`);
  }

  protected override escapeIdentifier(name: string): string {
    return name.replaceAll('\\', '\\\\').replaceAll('`', '\\`');
  }

  protected override columnTypeSql(type: ColumnType): string {
    return BIGQUERY_TYPES[type];
  }

  protected override placeholder(index: number): string {
    return `@p${index}`;
  }

  override stringLiteral(value: string): string {
    if (value.includes('\u0000')) return super.stringLiteral(value);
    return `'${value.replaceAll('\\', '\\\\').replaceAll("'", "\\'").replaceAll('\n', '\\n').replaceAll('\r', '\\r')}'`;
  }

  /** `x - INTERVAL n SECOND` keeps the operand's type (TIMESTAMP or DATETIME); `TIMESTAMP_SUB` takes TIMESTAMP only. */
  protected override timestampMinusSeconds(expr: string, seconds: number): string {
    if (seconds === 0) return expr;
    return `(${expr} - INTERVAL ${seconds} SECOND)`;
  }

  protected override temporaryKeyword(): string {
    return 'TEMP';
  }
}
