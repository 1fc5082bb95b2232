import { compiledQuery, planTransformation } from '../../compiler/index.js';
import type { Registry } from '../../registry/registry.js';
import { formatRef } from '../../registry/resource-ref.js';
import type { ProviderPool } from '../../serving/provider-pool.js';
import type { TaskHandler, TaskResult } from '../coordinator.js';
import { CompileInputs } from './compile-inputs.js';
import { countRows } from './materialization-task.js';
import { readWatermark, taskParams } from './task-params.js';

/**
 * Builds a transformation's output table `trellis_<name>__<variant>` in its provider (see compile-inputs.ts).
 *
 * - Full (default, and the first run of an incremental transformation): `CREATE OR REPLACE TABLE … AS <sql>`
 *   (drop + create where the dialect has no `OR REPLACE`).
 * - Incremental (`incremental.watermarkColumn` declared, a previous READY run, no `full` param): rows whose
 *   watermark column lies in `(previous watermark, now]` are appended — after deleting the rows above the previous
 *   watermark, so an attempt repeated after a crash between its insert and its READY never duplicates rows.
 * The watermark recorded is `now` (or `params.asOf`).
 */
export function transformationTask(registry: Registry, providers: ProviderPool): TaskHandler {
  const inputs = new CompileInputs(registry);
  return async (run, ctx): Promise<TaskResult> => {
    const stored = await registry.get('transformation', run.name, run.variant);
    const ref = formatRef(stored.name, stored.variant);
    const { spec, provider } = await inputs.transformation(stored);
    const params = taskParams(ctx.params);
    const until = params.asOf ?? new Date();
    const store = await providers.offline(provider);
    const out = store.compiler.quoteTable(spec.output);
    const exists = (await store.introspector.columns(spec.output)) !== undefined;
    const previous = readWatermark(ctx.previousWatermark);
    const incremental = spec.incremental !== undefined && exists && !params.full && previous !== null && previous.getTime() <= until.getTime();

    if (incremental) {
      const plan = planTransformation(spec, { since: previous, until });
      const query = store.compiler.compile(plan);
      const wm = store.compiler.quoteIdentifier(spec.incremental!.watermarkColumn);
      ctx.log(`incremental build of ${ref} into ${out}: ${spec.incremental!.watermarkColumn} in (${previous.toISOString()}, ${until.toISOString()}]`);
      await store.executor.run(compiledQuery(`DELETE FROM ${out} WHERE ${wm} > ${store.compiler.literal(previous)}`));
      ctx.signal.throwIfAborted();
      const inserted = await store.executor.run(store.compiler.compileInsertInto(spec.output, query));
      const total = await countRows(store, spec.output);
      ctx.log(`${inserted.rowsAffected ?? '?'} rows appended; ${total} rows in ${out}`);
      return { ...(inserted.rowsAffected !== undefined ? { rowsWritten: inserted.rowsAffected } : {}), watermark: until.toISOString() };
    }

    const plan = planTransformation(spec, spec.incremental ? { until } : undefined);
    const query = store.compiler.compile(plan);
    ctx.log(`building ${ref} into ${out} in ${provider}${spec.incremental ? ` (full; watermark ${until.toISOString()})` : ''}`);
    await store.executor.createTableAs(spec.output, query, { replace: true });
    ctx.signal.throwIfAborted();
    const rows = await countRows(store, spec.output);
    ctx.log(`${rows} rows in ${out}`);
    return { rowsWritten: rows, watermark: until.toISOString() };
  };
}
