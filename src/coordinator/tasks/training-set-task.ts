import { planTrainingSet } from '../../compiler/index.js';
import type { Registry } from '../../registry/registry.js';
import { formatRef } from '../../registry/resource-ref.js';
import type { ProviderPool } from '../../serving/provider-pool.js';
import type { TaskHandler, TaskResult } from '../coordinator.js';
import { CompileInputs, trainingSetTable } from './compile-inputs.js';
import { countRows } from './materialization-task.js';

/**
 * Builds a training set as the table `trellis_ts__<name>__<variant>` in the label's provider, from the compiled
 * point-in-time join (output columns: entity keys, label timestamp, `<feature>__<variant>`…, `<label>__<variant>`).
 * Re-running replaces the table (idempotent). `GET /v1/training_set/{name}/{variant}/data` streams it.
 */
export function trainingSetTask(registry: Registry, providers: ProviderPool): TaskHandler {
  const inputs = new CompileInputs(registry);
  return async (run, ctx): Promise<TaskResult> => {
    const stored = await registry.get('training_set', run.name, run.variant);
    const ref = formatRef(stored.name, stored.variant);
    const { spec, provider } = await inputs.trainingSet(stored);
    const store = await providers.offline(provider);
    const table = trainingSetTable(stored.name, stored.variant);
    const query = store.compiler.compile(planTrainingSet(spec));
    ctx.log(`building training set ${ref} (${spec.features.length} features) into ${store.compiler.quoteTable(table)} in ${provider}`);
    await store.executor.createTableAs(table, query, { replace: true });
    ctx.signal.throwIfAborted();
    const [rows, labelRows] = await Promise.all([countRows(store, table), countRows(store, spec.label.source.relation)]);
    ctx.log(`${rows} rows (one per label row)`);
    return { rowsRead: labelRows, rowsWritten: rows, watermark: new Date().toISOString() };
  };
}
