/**
 * Point-in-time join benchmark on DuckDB (not a test): the compiled training-set SQL against a hand-written
 * `ASOF LEFT JOIN` on the same tables, in the same process, interleaved, several repetitions.
 *
 *   npm run build && node dist/bench/pit/duckdb-pit-bench.js --labels 1000000 --rows 10000000 --entities 100000
 *
 * Both queries write their result into a table inside DuckDB (`CREATE OR REPLACE TABLE … AS`), so the time is
 * the join, not the transfer to JavaScript. The hand-written query is the usual one-liner; it is *not* exact:
 * among rows with the same (entity, ts) it returns an arbitrary one — the compiled SQL resolves those ties
 * (created ts, then value). The run reports how many rows differ between the two (at most the rows whose
 * match had such a tie) and the CPU time of each side: all DuckDB threads run in this process, so CPU time is
 * the steadier measure on a shared machine.
 */
import { parseArgs } from 'node:util';
import { createDuckDbOfflineStore } from '../../adapters/duckdb/index.js';
import { planTrainingSet } from '../../src/compiler/plan/plan-training-set.js';
import type { FeatureSpec, TrainingSetSpec } from '../../src/compiler/plan/plan-types.js';
import { compiledQuery, type CompiledQuery } from '../../src/compiler/sql/compiled-query.js';
import type { OfflineStore } from '../../src/spi/offline-store.js';

const { values: args } = parseArgs({
  options: {
    labels: { type: 'string', default: '1000000' },
    rows: { type: 'string', default: '10000000' },
    entities: { type: 'string', default: '100000' },
    reps: { type: 'string', default: '5' },
    threads: { type: 'string' },
    'without-created': { type: 'boolean', default: false },
    ttl: { type: 'string' },
    explain: { type: 'boolean', default: false },
  },
});
const labels = Number(args.labels);
const rows = Number(args.rows);
const entities = Number(args.entities);
const reps = Number(args.reps);
const YEAR = 365 * 24 * 3600;

const time = async (fn: () => Promise<unknown>): Promise<number> => {
  const start = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - start) / 1e6;
};
/** Wall time and CPU time (user + system, all DuckDB threads: they run in this process), ms. */
const measureBoth = async (fn: () => Promise<unknown>): Promise<{ wall: number; cpu: number }> => {
  const cpu = process.cpuUsage();
  const wall = await time(fn);
  const used = process.cpuUsage(cpu);
  return { wall, cpu: (used.user + used.system) / 1000 };
};
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;

async function main(): Promise<void> {
  const store: OfflineStore = await createDuckDbOfflineStore({
    path: ':memory:',
    ...(args.threads ? { settings: { threads: args.threads } } : {}),
  });
  const run = (sql: string) => store.executor.run(compiledQuery(sql));
  const generate = await time(async () => {
    await run(`SELECT setseed(0.42)`);
    await run(`CREATE TABLE feature_rows AS
      SELECT (random() * ${entities})::BIGINT AS entity_id,
             TIMESTAMP '2024-01-01' + to_seconds((random() * ${YEAR})::BIGINT) AS ts,
             TIMESTAMP '2024-01-01' + to_seconds((random() * ${YEAR})::BIGINT) AS created,
             random() AS value
      FROM range(${rows})`);
    await run(`CREATE TABLE label_rows AS
      SELECT (random() * ${entities})::BIGINT AS entity_id,
             TIMESTAMP '2024-01-01' + to_seconds((random() * ${YEAR})::BIGINT) AS ts,
             (random() < 0.5) AS label
      FROM range(${labels})`);
  });
  console.log(`generated ${labels} label rows × ${rows} feature rows, ${entities} entities in ${(generate / 1000).toFixed(1)} s`);

  const feature: FeatureSpec = {
    name: 'value',
    variant: 'v1',
    source: {
      relation: { name: 'feature_rows' },
      timestampColumn: 'ts',
      ...(args['without-created'] ? {} : { createdTimestampColumn: 'created' }),
    },
    entityKeyColumns: ['entity_id'],
    valueColumn: 'value',
    ...(args.ttl ? { ttlSeconds: Number(args.ttl) } : {}),
  };
  const spec: TrainingSetSpec = {
    label: {
      name: 'label',
      variant: 'v1',
      source: { relation: { name: 'label_rows' }, timestampColumn: 'ts' },
      entityKeyColumns: ['entity_id'],
      valueColumn: 'label',
    },
    features: [feature],
  };
  const compiled = store.compiler.compile(planTrainingSet(spec));
  const ttlFilter = args.ttl ? ` AND f.ts >= l.ts - INTERVAL ${Number(args.ttl)} SECOND` : '';
  const handWritten = compiledQuery(`SELECT l.entity_id, l.ts, CASE WHEN TRUE${ttlFilter} THEN f.value END AS value__v1, l.label AS label__v1
    FROM label_rows l ASOF LEFT JOIN feature_rows f ON l.entity_id = f.entity_id AND l.ts >= f.ts`);
  if (args.explain) {
    const plan = await store.executor.query(compiledQuery(`EXPLAIN ${compiled.sql}`));
    console.log(plan.map((r) => r.explain_value).join('\n'));
  }

  const measure = (query: CompiledQuery, into: string) =>
    measureBoth(() => store.executor.createTableAs({ name: into }, query, { replace: true }));
  const results = { compiled: [] as number[], hand: [] as number[] };
  const cpu = { compiled: [] as number[], hand: [] as number[] };
  const record = async (side: 'compiled' | 'hand') => {
    const m = await measure(side === 'hand' ? handWritten : compiled, side === 'hand' ? 'out_hand' : 'out_compiled');
    results[side].push(m.wall);
    cpu[side].push(m.cpu);
  };
  for (let i = 0; i < reps; i++) {
    // Alternate the order so drift on a shared machine hits both sides.
    for (const side of i % 2 === 0 ? (['hand', 'compiled'] as const) : (['compiled', 'hand'] as const)) await record(side);
    console.log(
      `rep ${i + 1}: hand ${results.hand.at(-1)?.toFixed(0)} ms (cpu ${cpu.hand.at(-1)?.toFixed(0)}), ` +
        `compiled ${results.compiled.at(-1)?.toFixed(0)} ms (cpu ${cpu.compiled.at(-1)?.toFixed(0)})`,
    );
  }

  // Same answer wherever the hand-written query is itself deterministic (no other row with the same entity and ts).
  const [check] = await store.executor.query(compiledQuery(`
    WITH ties AS (SELECT entity_id, ts FROM feature_rows GROUP BY ALL HAVING count(*) > 1),
    h AS (SELECT *, row_number() OVER (PARTITION BY entity_id, ts, label__v1 ORDER BY value__v1) AS n FROM out_hand),
    c AS (SELECT *, row_number() OVER (PARTITION BY entity_id, ts, label__v1 ORDER BY value__v1) AS n FROM out_compiled)
    SELECT (SELECT count(*) FROM out_hand) AS hand_rows, (SELECT count(*) FROM out_compiled) AS compiled_rows,
      (SELECT count(*) FROM ties) AS tie_groups,
      count(*) FILTER (WHERE h.value__v1 IS DISTINCT FROM c.value__v1) AS differing_rows
    FROM h JOIN c USING (entity_id, ts, label__v1, n)`));
  console.log('check', check);

  const summary = {
    labels,
    rows,
    entities,
    created: !args['without-created'],
    hand_median_ms: Math.round(median(results.hand)),
    compiled_median_ms: Math.round(median(results.compiled)),
    hand_min_ms: Math.round(Math.min(...results.hand)),
    compiled_min_ms: Math.round(Math.min(...results.compiled)),
    ratio_median: Number((median(results.compiled) / median(results.hand)).toFixed(2)),
    ratio_min: Number((Math.min(...results.compiled) / Math.min(...results.hand)).toFixed(2)),
    hand_cpu_median_ms: Math.round(median(cpu.hand)),
    compiled_cpu_median_ms: Math.round(median(cpu.compiled)),
    ratio_cpu_median: Number((median(cpu.compiled) / median(cpu.hand)).toFixed(2)),
  };
  console.log(JSON.stringify(summary));
  await store.close();
}

await main();
