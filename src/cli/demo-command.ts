import { chmod, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../config/load-config.js';
import { seedCardFraudData } from '../demo/card-fraud-data.js';
import { isTrellisError } from '../errors/trellis-error.js';
import { readDefinitionFiles } from '../registry/definition-files.js';
import { openTrellis } from '../trellis.js';
import { formatPlan } from './plan-printer.js';
import { closeOnSignals } from './serve-command.js';
import { isTerminal, type Run } from '../coordinator/run-types.js';
import { taskFor } from '../coordinator/run-triggers.js';
import type { ApplyPlan } from '../registry/registry.js';
import type { Trellis } from '../trellis.js';

const examplesDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../definitions/examples');

/**
 * The embedded demo: PGlite registry, DuckDB warehouse and embedded online store under the data directory.
 * The generated admin key is kept in `<dataDir>/admin.key` (mode 600) so a restarted demo can show it again.
 */
export async function runDemo(): Promise<number> {
  // Request logs would bury the instructions below; TRELLIS_LOG_LEVEL still wins.
  const quiet = { logLevel: process.env.TRELLIS_LOG_LEVEL ?? 'warn' };
  const config = loadConfig(quiet);
  if (config.databaseUrl) {
    console.error('trellis demo runs on the embedded registry; unset TRELLIS_DATABASE_URL or use `trellis serve`.');
    return 2;
  }
  const keyFile = path.join(config.dataDir, 'admin.key');
  const storedKey = config.adminKey ?? (await readFile(keyFile, 'utf8').then((k) => k.trim(), () => null));

  const started = Date.now();
  const seeded = await seedCardFraudData({ file: path.join(config.dataDir, 'warehouse.duckdb') });
  console.log(`${seeded.created ? 'Seeded' : 'Found'} demo warehouse: ${seeded.transactions} transactions, ${seeded.fraudReports} fraud reports`);

  const trellis = await openTrellis(loadConfig({ ...quiet, adminKey: storedKey }));
  const adminKey = trellis.generatedAdminKey ?? storedKey!;
  if (trellis.generatedAdminKey) {
    await writeFile(keyFile, `${adminKey}\n`, { mode: 0o600 });
    await chmod(keyFile, 0o600);
  }
  let sample: string;
  try {
    const { resources, files } = await readDefinitionFiles(examplesDir);
    const plan = await trellis.registry.apply(resources, { actor: 'demo' });
    console.log(`Applied ${files.map((f) => path.relative(process.cwd(), f)).join(', ')}:\n${formatPlan(plan)}`);
    const failed = await waitForDemoRuns(trellis, plan);
    if (failed > 0) console.error(`${failed} run(s) did not end READY; see GET /v1/runs?status=FAILED`);
    sample = await sampleOnlineRead(trellis, adminKey);
  } catch (error) {
    console.error(isTrellisError(error) ? `${error.code}: ${error.message}` : error);
    await trellis.close();
    return 1;
  }
  await trellis.app.listen({ host: config.host, port: config.port });
  closeOnSignals(trellis);
  const base = `http://${config.host}:${config.port}`;
  console.log(`
Trellis is running at ${base} (embedded: registry, warehouse and online store in ${path.resolve(config.dataDir)}), ready in ${Date.now() - started} ms.

Admin API key: ${adminKey}
  (kept in ${keyFile}; export it to follow along)
  export TRELLIS_API_KEY=${adminKey}

Try next:
  # Online features of the fraud_model service (materialized above), with on-demand features from context:
  ${sample}
  curl -s -H "authorization: Bearer $TRELLIS_API_KEY" ${base}/v1/feature | head -c 600
  curl -s -H "authorization: Bearer $TRELLIS_API_KEY" "${base}/v1/training_set/fraud_training/default/data?format=csv" | head -5
  curl -s -H "authorization: Bearer $TRELLIS_API_KEY" "${base}/v1/runs?limit=10"
  TRELLIS_URL=${base} npx trellis materialize user_txn_count_7d      # a new run, with progress
  TRELLIS_URL=${base} npx trellis training-set export fraud_training --format csv --out fraud.csv
  npx trellis plan definitions/examples        # re-apply: everything unchanged

GraphQL (lineage, freshness, runs) at ${base}/graphql, e.g.:
  curl -s -H "authorization: Bearer $TRELLIS_API_KEY" -H 'content-type: application/json' ${base}/graphql \\
    -d '{"query":"{ resource(kind: FEATURE, name: \\"user_txn_count_7d\\") { name ... on Feature { freshness { status lagSeconds rowsWritten } } } }"}'
`.replaceAll('$BASE', base));
  return 0;
}

/**
 * Waits for the runs of the demo's transformations, materializations and training set, printing a line as each
 * ends. A restarted demo (apply unchanged) re-materializes its features so the window values are as of now.
 */
async function waitForDemoRuns(trellis: Trellis, plan: ApplyPlan, timeoutMs = 300_000): Promise<number> {
  const { store, triggers } = trellis.coordinator;
  const runs: Run[] = [];
  for (const action of plan.actions) {
    const resource = await trellis.registry.get(action.kind, action.name, action.variant);
    if (!taskFor(resource)) continue;
    const [latest] = (await store.list({ kind: action.kind, name: action.name, variant: action.variant, limit: 1 })).items;
    const refresh = action.action !== 'create' && resource.kind === 'feature';
    if (latest && !refresh) runs.push(latest);
    else runs.push((await triggers!.trigger(action, { triggeredBy: 'manual' })).run);
  }
  if (runs.length === 0) return 0;
  console.log(`Waiting for ${runs.length} run(s) (transformations, materializations, training set):`);
  const pending = new Map(runs.map((r) => [r.id, r]));
  const deadline = Date.now() + timeoutMs;
  let failed = 0;
  while (pending.size > 0) {
    for (const id of [...pending.keys()]) {
      const run = await store.get(id);
      if (!run || !isTerminal(run.status)) continue;
      pending.delete(id);
      if (run.status !== 'READY') failed++;
      const seconds = run.startedAt && run.finishedAt ? ((Date.parse(run.finishedAt) - Date.parse(run.startedAt)) / 1000).toFixed(1) : '?';
      const rows = [run.rowsRead !== null ? `${run.rowsRead} rows read` : null, run.rowsWritten !== null ? `${run.rowsWritten} written` : null].filter(Boolean).join(', ');
      console.log(`  ${run.status === 'READY' ? '✓' : '✗'} ${run.task.padEnd(15)} ${`${run.name}@${run.variant}`.padEnd(32)} ${run.status} in ${seconds}s${rows ? ` (${rows})` : ''}${run.error ? `: ${run.error}` : ''}`);
    }
    if (pending.size === 0) break;
    if (Date.now() > deadline) {
      console.error(`  still waiting for run(s) ${[...pending.keys()].join(', ')}; continuing`);
      return failed + pending.size;
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  return failed;
}

/** A curl for the fraud_model service with the latest transaction's user and merchant (they surely have data). */
async function sampleOnlineRead(trellis: Trellis, adminKey: string): Promise<string> {
  const warehouse = await trellis.providers.offline('warehouse@default');
  const { compiler } = warehouse;
  const [row] = await warehouse.executor.query<{ user_id: string; merchant_id: string }>({
    sql: `SELECT user_id, merchant_id FROM ${compiler.quoteTable({ name: 'transactions' })} ORDER BY event_ts DESC LIMIT 1`,
    parameters: [],
  });
  const body = { featureService: 'fraud_model', entities: [{ user_id: row?.user_id ?? 'u00001', merchant_id: row?.merchant_id ?? 'm0001' }], context: { amount: 250 } };
  const response = await trellis.app.inject({ method: 'POST', url: '/v1/features/online', headers: { authorization: `Bearer ${adminKey}` }, payload: body });
  const statuses = (response.json() as { results?: { statuses: string[] }[] }).results?.[0]?.statuses ?? [];
  const present = statuses.filter((s) => s === 'PRESENT').length;
  return (
    `curl -s -H "authorization: Bearer $TRELLIS_API_KEY" -H 'content-type: application/json' $BASE/v1/features/online \\\n` +
    `    -d '${JSON.stringify(body)}'\n` +
    `  #  → ${present} of ${statuses.length} values PRESENT right now (HTTP ${response.statusCode})`
  );
}
