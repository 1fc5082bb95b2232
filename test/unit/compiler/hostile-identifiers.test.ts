/**
 * Hostile identifiers (quotes, backticks, backslashes, `;`, `--`) cannot break out of quoting on any dialect.
 *
 * Every statement is tokenised with the dialect's own quoting rules (an independent lexer written here, not
 * the compiler's code): it must contain no unterminated quote, no `;` and no comment start outside quotes, and
 * every quoted identifier must decode to a name from the spec or one the compiler introduces itself.
 * Postgres and DuckDB additionally execute these names for real (offline-store conformance suite).
 */
import { describe, expect, it } from 'vitest';
import { isTrellisError } from '../../../src/errors/trellis-error.js';
import { planMaterialization } from '../../../src/compiler/plan/plan-materialization.js';
import { planTrainingSet } from '../../../src/compiler/plan/plan-training-set.js';
import { planTransformation } from '../../../src/compiler/plan/plan-transformation.js';
import type { FeatureSpec, TableRef } from '../../../src/compiler/plan/plan-types.js';
import type { CompiledQuery } from '../../../src/compiler/sql/compiled-query.js';
import { createSqlCompiler } from '../../../src/compiler/sql/create-sql-compiler.js';
import { DIALECTS, type Dialect } from '../../../src/compiler/sql/dialect.js';

const HOSTILE = [
  'a"b',
  'a""b',
  'x`y',
  'x\\`y',
  "it's",
  'semi;colon',
  'dash--dash',
  '"; DROP TABLE users; --',
  '`); DELETE FROM t; --',
  'back\\slash',
  'trailing\\',
  '/* c */',
  '$1',
  '?',
  '@p1',
  'ünï',
];

interface Token {
  readonly kind: 'identifier' | 'string' | 'other';
  readonly text: string;
}

const rules = {
  postgres: { identifier: '"', identifierEscape: 'double', stringBackslash: 'e-prefix' },
  duckdb: { identifier: '"', identifierEscape: 'double', stringBackslash: 'none' },
  // Snowflake strings take both `''` and backslash escapes.
  snowflake: { identifier: '"', identifierEscape: 'double', stringBackslash: 'both' },
  bigquery: { identifier: '`', identifierEscape: 'backslash', stringBackslash: 'always' },
} as const satisfies Record<Dialect, { identifier: string; identifierEscape: string; stringBackslash: string }>;

/** Splits SQL into quoted identifiers, string literals and other text, decoding the quoted parts. */
function lex(sql: string, dialect: Dialect): Token[] {
  const rule = rules[dialect];
  const tokens: Token[] = [];
  let other = '';
  let i = 0;
  const flush = () => {
    if (other) tokens.push({ kind: 'other', text: other });
    other = '';
  };
  const readQuoted = (quote: string, backslash: boolean, doubled = !backslash): string => {
    let out = '';
    i++;
    for (;;) {
      if (i >= sql.length) throw new Error(`unterminated ${quote} in ${sql}`);
      const c = sql[i] as string;
      if (backslash && c === '\\') {
        const next = sql[i + 1];
        if (next === undefined) throw new Error('dangling backslash');
        out += next === 'n' ? '\n' : next;
        i += 2;
        continue;
      }
      if (c === quote) {
        if (doubled && sql[i + 1] === quote) {
          out += quote;
          i += 2;
          continue;
        }
        i++;
        return out;
      }
      out += c;
      i++;
    }
  };
  while (i < sql.length) {
    const c = sql[i] as string;
    if (c === rule.identifier) {
      flush();
      tokens.push({ kind: 'identifier', text: readQuoted(rule.identifier, rule.identifierEscape === 'backslash') });
    } else if (c === "'") {
      const eString = rule.stringBackslash === 'e-prefix' && /[Ee]$/.test(other) && !/[A-Za-z0-9_][Ee]$/.test(other);
      if (eString) other = other.slice(0, -1);
      flush();
      const backslash = rule.stringBackslash === 'always' || rule.stringBackslash === 'both' || eString;
      tokens.push({ kind: 'string', text: readQuoted("'", backslash, !backslash || rule.stringBackslash === 'both' || eString) });
    } else {
      other += c;
      i++;
    }
  }
  flush();
  return tokens;
}

function expectContained(query: CompiledQuery, dialect: Dialect, allowed: ReadonlySet<string>): void {
  const tokens = lex(query.sql, dialect);
  for (const token of tokens) {
    if (token.kind === 'other') {
      expect(token.text, query.sql).not.toMatch(/;|--|\/\*/);
    } else if (token.kind === 'identifier') {
      const ok = allowed.has(token.text) || /^(__trellis_[a-z0-9_]+|[a-z]|[a-z]+[0-9]*|ranked|latest)$/.test(token.text);
      expect(ok, `unexpected identifier ${JSON.stringify(token.text)} in\n${query.sql}`).toBe(true);
    }
  }
}

const table: TableRef = { catalog: HOSTILE[2], schema: HOSTILE[0], name: HOSTILE[7] as string };
const source = { relation: table, timestampColumn: HOSTILE[5] as string, createdTimestampColumn: HOSTILE[6] as string };
const feature = (i: number, extra: Partial<FeatureSpec> = {}): FeatureSpec => ({
  name: HOSTILE[i] as string,
  variant: HOSTILE[(i + 3) % HOSTILE.length] as string,
  source,
  entityKeyColumns: [HOSTILE[8] as string, HOSTILE[9] as string],
  valueColumn: HOSTILE[10] as string,
  ...extra,
});
const names = new Set([...HOSTILE, ...HOSTILE.flatMap((a) => HOSTILE.map((b) => `${a}__${b}`))]);
const asOf = new Date('2024-01-01T00:00:00Z');

describe.each([...DIALECTS])('hostile identifiers on %s', (dialect) => {
  const compiler = createSqlCompiler(dialect);

  it('stay quoted in training sets, materializations and transformations', () => {
    const plans = [
      planTrainingSet({
        label: {
          name: HOSTILE[11] as string,
          variant: HOSTILE[12] as string,
          source: { relation: { name: HOSTILE[13] as string }, timestampColumn: HOSTILE[14] as string },
          entityKeyColumns: [HOSTILE[15] as string, HOSTILE[1] as string],
          valueColumn: HOSTILE[3] as string,
        },
        features: [
          feature(0, { ttlSeconds: 5, lagSeconds: 2 }),
          feature(1, { valueColumn: HOSTILE[4] as string }),
          feature(2, { aggregation: { fn: 'sum', column: HOSTILE[4] as string, windowSeconds: 60 } }),
          feature(3, { aggregation: { fn: 'count', windowSeconds: 60 } }),
        ],
        keyNames: [HOSTILE[7] as string, HOSTILE[8] as string],
        timestampName: HOSTILE[9] as string,
      }),
      planMaterialization({ feature: feature(0), asOf, since: asOf }),
      planMaterialization({ feature: feature(2, { aggregation: { fn: 'avg', column: HOSTILE[4] as string, windowSeconds: 60 } }), asOf }),
      planTransformation(
        { sql: 'SELECT * FROM {{ a.b }}', resolve: () => table, output: table, incremental: { watermarkColumn: HOSTILE[7] as string } },
        { until: asOf },
      ),
    ];
    for (const plan of plans) {
      expectContained(compiler.compile(plan), dialect, names);
      expectContained(compiler.compile(plan, { inlineParameters: true }), dialect, names);
    }
  });

  it('stay quoted in table operations and literals', () => {
    const select = compiler.compileSelectAll(table, { limit: 1 });
    const columns = [
      { name: HOSTILE[0] as string, type: 'string' as const },
      { name: HOSTILE[2] as string, type: 'timestamp' as const },
    ];
    const statements = [
      select,
      compiler.compileCreateTableAs(table, select, { temporary: true }),
      compiler.compileCreateView(table, select),
      compiler.compileInsertInto(table, select, [HOSTILE[1] as string]),
      compiler.compileCreateTable(table, columns, { ifNotExists: true }),
      compiler.compileInsertValues(table, columns.map((c) => c.name), [["x'; DROP TABLE t; --", asOf]]),
      compiler.compileDropTable(table, { ifExists: true }),
      compiler.compileDropView(table),
    ];
    for (const statement of statements) expectContained(statement, dialect, names);
    for (const value of HOSTILE) {
      const tokens = lex(`SELECT ${compiler.stringLiteral(value)}`, dialect);
      expect(tokens.filter((t) => t.kind === 'string').map((t) => t.text)).toEqual([value]);
      const id = lex(compiler.quoteIdentifier(value), dialect);
      expect(id).toEqual([{ kind: 'identifier', text: value }]);
    }
  });

  it('refuses identifiers the dialect cannot hold', () => {
    const refuse = (name: string) => {
      try {
        compiler.quoteIdentifier(name);
      } catch (error) {
        expect(isTrellisError(error)).toBe(true);
        return;
      }
      throw new Error(`accepted ${JSON.stringify(name)}`);
    };
    refuse('');
    refuse('a\u0000b');
    refuse('line\nbreak');
    refuse('x'.repeat(5000));
    if (dialect === 'postgres') refuse('é'.repeat(32)); // 64 bytes: Postgres would truncate it to 63
    expect(() => compiler.quoteIdentifier('x'.repeat(63))).not.toThrow();
  });
});
