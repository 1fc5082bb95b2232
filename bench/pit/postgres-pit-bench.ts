/**
 * Point-in-time join benchmark on Postgres (not a test): the compiled training-set SQL against the best
 * hand-written queries found, on the same tables, interleaved, several repetitions.
 *
 *   npm run build && node dist/bench/pit/postgres-pit-bench.js --url postgres://postgres@127.0.0.1:55432/postgres
 *
 * Tables live in a scratch schema (`trellis_bench_pit`, dropped at the end). Every query writes its result with
 * `CREATE TABLE … AS`. `--index pit` (default) gives the feature table the index the Postgres compiler
 * recommends (`compilePointInTimeIndex`: entity_id, ts, created NULLS FIRST, value NULLS FIRST); `--index basic`
 * only (entity_id, ts). Every contender runs against the same index.
 * Hand-written contenders:
 * - `lateral`: `LEFT JOIN LATERAL (… ORDER BY ts DESC LIMIT 1)` — the usual form; not exact on ties.
 * - `window`: union of spine and feature rows, a running `max()` of the feature row position per entity —
 *   one sort instead of one index probe per spine row.
 */
import { parseArgs } from 'node:util';
import { createPostgresOfflineStore } from '../../adapters/postgres/index.js';
import { planTrainingSet } from '../../src/compiler/plan/plan-training-set.js';
import type { TrainingSetSpec } from '../../src/compiler/plan/plan-types.js';
import { compiledQuery, type CompiledQuery } from '../../src/compiler/sql/compiled-query.js';
import type { PostgresSqlCompiler } from '../../src/compiler/sql/postgres/postgres-sql-compiler.js';

const { values: args } = parseArgs({
  options: {
    url: { type: 'string', default: process.env.TRELLIS_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:55432/postgres' },
    labels: { type: 'string', default: '100000' },
    rows: { type: 'string', default: '1000000' },
    entities: { type: 'string', default: '10000' },
    reps: { type: 'string', default: '5' },
    'without-created': { type: 'boolean', default: false },
    index: { type: 'string', default: 'pit' },
  },
});
const labels = Number(args.labels);
const rows = Number(args.rows);
const entities = Number(args.entities);
const reps = Number(args.reps);
const schema = 'trellis_bench_pit';
const YEAR = 365 * 24 * 3600;

const time = async (fn: () => Promise<unknown>): Promise<number> => {
  const start = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - start) / 1e6;
};
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;

async function main(): Promise<void> {
  const store = await createPostgresOfflineStore({ connectionString: args.url, schema, maxConnections: 2 });
  const run = (sql: string) => store.executor.run(compiledQuery(sql));
  try {
    const generate = await time(async () => {
      await run('SELECT setseed(0.42)');
      await run('DROP TABLE IF EXISTS feature_rows, label_rows');
      await run(`CREATE TABLE feature_rows AS
        SELECT (random() * ${entities})::bigint AS entity_id,
               TIMESTAMP '2024-01-01' + make_interval(secs => floor(random() * ${YEAR})) AS ts,
               TIMESTAMP '2024-01-01' + make_interval(secs => floor(random() * ${YEAR})) AS created,
               random() AS value
        FROM generate_series(1, ${rows})`);
      await run(`CREATE TABLE label_rows AS
        SELECT (random() * ${entities})::bigint AS entity_id,
               TIMESTAMP '2024-01-01' + make_interval(secs => floor(random() * ${YEAR})) AS ts,
               random() < 0.5 AS label
        FROM generate_series(1, ${labels})`);
    });
    console.log(`generated ${labels} label rows × ${rows} feature rows, ${entities} entities in ${(generate / 1000).toFixed(1)} s`);

    const spec: TrainingSetSpec = {
      label: {
        name: 'label',
        variant: 'v1',
        source: { relation: { name: 'label_rows' }, timestampColumn: 'ts' },
        entityKeyColumns: ['entity_id'],
        valueColumn: 'label',
      },
      features: [
        {
          name: 'value',
          variant: 'v1',
          source: { relation: { name: 'feature_rows' }, timestampColumn: 'ts', ...(args['without-created'] ? {} : { createdTimestampColumn: 'created' }) },
          entityKeyColumns: ['entity_id'],
          valueColumn: 'value',
        },
      ],
    };
    const feature = planTrainingSet(spec).features[0];
    if (args.index === 'pit' && feature?.kind === 'latest-value') {
      await store.executor.run((store.compiler as PostgresSqlCompiler).compilePointInTimeIndex(feature));
    } else {
      await run('CREATE INDEX feature_rows_entity_ts ON feature_rows (entity_id, ts)');
    }
    await run('VACUUM ANALYZE feature_rows');
    await run('ANALYZE label_rows');
    const contenders: Record<string, CompiledQuery> = {
      compiled: store.compiler.compile(planTrainingSet(spec)),
      lateral: compiledQuery(`SELECT l.entity_id, l.ts, f.value AS value__v1, l.label AS label__v1
        FROM label_rows l LEFT JOIN LATERAL (
          SELECT value FROM feature_rows r WHERE r.entity_id = l.entity_id AND r.ts <= l.ts ORDER BY r.ts DESC LIMIT 1
        ) f ON TRUE`),
      window: compiledQuery(`WITH u AS (
          SELECT entity_id, ts, 0 AS side, row_number() OVER (ORDER BY entity_id, ts) AS pos, value, NULL::boolean AS label FROM feature_rows
          UNION ALL
          SELECT entity_id, ts, 1, NULL, NULL, label FROM label_rows
        ), w AS (
          SELECT *, max(pos) OVER (PARTITION BY entity_id ORDER BY ts, side ROWS UNBOUNDED PRECEDING) AS last_pos FROM u
        )
        SELECT w.entity_id, w.ts, f.value AS value__v1, w.label AS label__v1
        FROM w LEFT JOIN (SELECT row_number() OVER (ORDER BY entity_id, ts) AS pos, value FROM feature_rows) f ON f.pos = w.last_pos
        WHERE w.side = 1`),
    };
    const results: Record<string, number[]> = Object.fromEntries(Object.keys(contenders).map((k) => [k, []]));
    const names = Object.keys(contenders);
    for (let i = 0; i < reps; i++) {
      const order = i % 2 === 0 ? names : [...names].reverse();
      for (const name of order) {
        results[name]?.push(await time(() => store.executor.createTableAs({ name: `out_${name}` }, contenders[name] as CompiledQuery, { replace: true })));
      }
      console.log(`rep ${i + 1}: ${names.map((n) => `${n} ${results[n]?.at(-1)?.toFixed(0)} ms`).join(', ')}`);
    }
    const [check] = await store.executor.query(compiledQuery(`SELECT
        (SELECT count(*) FROM out_compiled) AS compiled_rows, (SELECT count(*) FROM out_lateral) AS lateral_rows,
        (SELECT count(*) FROM (SELECT entity_id, ts FROM feature_rows GROUP BY 1, 2 HAVING count(*) > 1) t) AS tie_groups,
        (SELECT count(*) FROM (SELECT entity_id, ts, label__v1, value__v1 FROM out_compiled EXCEPT ALL SELECT entity_id, ts, label__v1, value__v1 FROM out_lateral) d) AS differing_rows`));
    console.log('check', check);
    const best = names.filter((n) => n !== 'compiled').reduce((a, b) => (median(results[a] ?? []) <= median(results[b] ?? []) ? a : b));
    const summary = {
      labels,
      rows,
      entities,
      created: !args['without-created'],
      index: args.index,
      ...Object.fromEntries(names.map((n) => [`${n}_median_ms`, Math.round(median(results[n] ?? []))])),
      best_hand_written: best,
      ratio_median: Number((median(results.compiled ?? []) / median(results[best] ?? [])).toFixed(2)),
      ratio_min: Number((Math.min(...(results.compiled ?? [])) / Math.min(...(results[best] ?? []))).toFixed(2)),
    };
    console.log(JSON.stringify(summary));
  } finally {
    await run(`DROP SCHEMA IF EXISTS ${store.compiler.quoteIdentifier(schema)} CASCADE`).catch(() => undefined);
    await store.close();
  }
}

await main();
