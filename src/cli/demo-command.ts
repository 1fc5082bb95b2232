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
  try {
    const { resources, files } = await readDefinitionFiles(examplesDir);
    const plan = await trellis.registry.apply(resources, { actor: 'demo' });
    console.log(`Applied ${files.map((f) => path.relative(process.cwd(), f)).join(', ')}:\n${formatPlan(plan)}`);
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
  curl -s -H "authorization: Bearer $TRELLIS_API_KEY" ${base}/v1/feature | head -c 600
  curl -s -H "authorization: Bearer $TRELLIS_API_KEY" ${base}/v1/training_set/fraud_training/default
  npx trellis plan definitions/examples        # re-apply: everything unchanged
`);
  return 0;
}
