/**
 * Golden SQL per dialect. Each `*.golden.ts` holds `Record<Dialect, string>` expectations, so adding a dialect
 * fails to compile until every expectation is written. The semantic checks live in test/unit/compiler
 * (property tests on real engines); these pin the exact text, and check that every Postgres, Snowflake and
 * BigQuery statement parses in its own dialect (DuckDB SQL is checked by executing it).
 */
import { Parser } from 'node-sql-parser';
import { describe, expect, it } from 'vitest';
import type { CompiledParameter } from '../../src/compiler/sql/compiled-query.js';
import { createSqlCompiler } from '../../src/compiler/sql/create-sql-compiler.js';
import { DIALECTS, type Dialect } from '../../src/compiler/sql/dialect.js';
import { goldenPlans, type GoldenCase } from './golden-specs.js';
import * as hostile from './hostile.golden.js';
import * as materializationLatest from './materialization-latest.golden.js';
import * as materializationWindow from './materialization-window.golden.js';
import * as trainingSetStream from './training-set-stream.golden.js';
import * as trainingSet from './training-set.golden.js';
import * as transformation from './transformation.golden.js';

interface Golden {
  readonly sql: Record<Dialect, string>;
  readonly parameters: Record<Dialect, readonly CompiledParameter[]>;
}

const goldens = {
  'training-set': trainingSet,
  'training-set-stream': trainingSetStream,
  'materialization-latest': materializationLatest,
  'materialization-window': materializationWindow,
  transformation,
  hostile,
} satisfies Record<GoldenCase, Golden>;

const parserDialect = {
  postgres: 'postgresql',
  duckdb: undefined,
  snowflake: 'snowflake',
  bigquery: 'bigquery',
} as const satisfies Record<Dialect, string | undefined>;

describe.each(Object.keys(goldens) as GoldenCase[])('golden SQL: %s', (name) => {
  const golden: Golden = goldens[name];
  it.each([...DIALECTS])('%s', (dialect) => {
    const compiled = createSqlCompiler(dialect).compile(goldenPlans[name]);
    expect(compiled.sql).toBe(golden.sql[dialect]);
    expect(compiled.parameters).toEqual(golden.parameters[dialect]);
    expect(Object.isFrozen(compiled)).toBe(true);
    expect(Object.isFrozen(compiled.parameters)).toBe(true);
  });
});

/**
 * Statements node-sql-parser 5.4 rejects although the dialect accepts them (grammar gaps, checked by hand
 * against the vendors' docs). Listed so that a gap closing shows up as a failure here.
 */
const parserGaps: Partial<Record<`${GoldenCase}/${Dialect}`, string>> = {
  'training-set/bigquery': 'window ORDER BY … NULLS LAST (BigQuery supports it)',
  'training-set-stream/bigquery': 'window ORDER BY … NULLS LAST (BigQuery supports it)',
  'materialization-latest/bigquery': 'window ORDER BY … NULLS LAST (BigQuery supports it)',
  'hostile/bigquery': 'escaped backticks inside quoted identifiers',
  'hostile/postgres': 'doubled double quotes inside quoted aliases',
  'hostile/snowflake': 'doubled double quotes inside quoted aliases',
};

describe('generated statements parse in their own dialect', () => {
  const parser = new Parser();
  const cases = (Object.keys(goldens) as GoldenCase[]).flatMap((name) =>
    DIALECTS.filter((d) => parserDialect[d] !== undefined).map((dialect) => [name, dialect] as const),
  );
  it.each(cases)('%s on %s', (name, dialect) => {
    const database = parserDialect[dialect];
    // Parameters inlined: node-sql-parser's Snowflake grammar has no `?` placeholders.
    const sql = createSqlCompiler(dialect).compile(goldenPlans[name], { inlineParameters: true }).sql;
    if (parserGaps[`${name}/${dialect}`]) expect(() => parser.astify(sql, { database })).toThrow();
    else expect(() => parser.astify(sql, { database })).not.toThrow();
  });
});

describe('placeholders match the bound parameters', () => {
  /** Placeholders outside quoted identifiers and string literals, in text order. */
  const placeholders = (sql: string, dialect: Dialect): string[] => {
    const quote = dialect === 'bigquery' ? '`' : '"';
    const stripped = sql.replace(new RegExp(`${quote}(?:[^${quote}\\\\]|\\\\.|${quote}${quote})*${quote}|'(?:[^'\\\\]|\\\\.|'')*'`, 'g'), '');
    return stripped.match(/\$\d+|@p\d+|\?/g) ?? [];
  };
  const cases = (Object.keys(goldens) as GoldenCase[]).flatMap((name) => DIALECTS.map((dialect) => [name, dialect] as const));
  it.each(cases)('%s on %s', (name, dialect) => {
    const compiled = createSqlCompiler(dialect).compile(goldenPlans[name]);
    const found = placeholders(compiled.sql, dialect);
    if (dialect === 'snowflake') {
      // Positional: one `?` per bound value, in text order.
      expect(found.every((p) => p === '?')).toBe(true);
      expect(found).toHaveLength(compiled.parameters.length);
    } else {
      // Numbered: $1…$n / @p1…@pn, each used at least once, numbered by first appearance.
      const numbers = found.map((p) => Number(p.replace(/^\$|^@p/, '')));
      const firstSeen = [...new Set(numbers)];
      expect(firstSeen).toEqual(compiled.parameters.map((_, i) => i + 1));
    }
  });
});
