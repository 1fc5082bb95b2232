import { compiledQuery, planMaterialization, type Relation } from '../../compiler/index.js';
import type { Registry } from '../../registry/registry.js';
import { durationSeconds, formatRef } from '../../registry/resource-ref.js';
import type { ProviderPool } from '../../serving/provider-pool.js';
import { onlineTableOf } from '../../serving/feature-catalog.js';
import type { OfflineRow, OfflineStore } from '../../spi/offline-store.js';
import type { OnlineWriteRow } from '../../spi/online-store.js';
import type { TaskHandler, TaskResult } from '../coordinator.js';
import { PermanentError } from '../task-errors.js';
import { CompileInputs } from './compile-inputs.js';
import { OnlineRowConverter } from './online-row-converter.js';
import { ProgressMeter } from './progress-meter.js';
import { readWatermark, taskParams } from './task-params.js';

export interface MaterializationTaskOptions {
  /** Rows per chunk read from the warehouse and written to the online store (default 10 000). */
  readonly batchSize?: number;
  /**
   * Chunks whose online write may still be in flight while the next chunk is converted and sent (default 2).
   * The online store works on chunk n while this process parses chunk n + 1; 1 waits for every write.
   */
  readonly writesInFlight?: number;
}

/**
 * Materializes one feature into its online provider.
 *
 * - **What is written**: for a value feature, the latest row per entity key with `ts ≤ asOf` (event time, then
 *   created time, then the compiler's final tie-break), with its event time; for a window aggregation, the window
 *   value over `(asOf − window, asOf]` per key, with `asOf` as its event time (the value is "as of" the watermark,
 *   so a later run always supersedes an earlier one, and a re-run of an older watermark never does).
 * - **Incremental**: `since` = the previous READY run's watermark. Value features read only the keys with a row in
 *   `(since, asOf]` (their latest row is necessarily there). Aggregations recompute every *affected* key in full —
 *   a key with a row in `(since − window, asOf]`, i.e. rows entering or leaving the window — because a window value
 *   cannot be patched from the new rows alone. Rows that arrive late (event time ≤ the previous watermark) are only
 *   picked up by a full run: trigger with params `{ "full": true }`.
 * - **Params**: `full` (ignore the previous watermark), `asOf` (ISO instant; default now — tests and backfills).
 * - **Writes** go through `writeBatch`, compare-and-set on event time: re-runs and an attempt repeated after a
 *   lost lease are idempotent, and an older event never replaces a newer one.
 * - Rows stream from the warehouse in chunks (`batchSize`); the next chunk is fetched while the current one is
 *   converted, and up to `writesInFlight` converted chunks are being written meanwhile (so at most
 *   `writesInFlight + 2` chunks in memory); the lease is renewed after every chunk and the run's AbortSignal stops
 *   the query. Chunks of one run hold distinct keys (one row per key), so their writes commute; a failed write
 *   stops the run once the writes already sent have settled.
 * - A full run that reads 0 rows from a non-empty source is flagged (Feast reports success with 0 rows written:
 *   #5745): the run is READY with a warning in its logs, and the warning becomes the feature's status message
 *   (the run store mirrors every outcome onto the feature's status: READY, with the warning if any / FAILED with
 *   the error).
 */
export function materializationTask(registry: Registry, providers: ProviderPool, options: MaterializationTaskOptions = {}): TaskHandler {
  const inputs = new CompileInputs(registry);
  const batchSize = options.batchSize ?? 10_000;
  const writesInFlight = options.writesInFlight ?? 2;
  return async (run, ctx): Promise<TaskResult> => {
    const stored = await registry.get('feature', run.name, run.variant);
    const ref = formatRef(stored.name, stored.variant);
    const { spec, provider, input, entity, def } = await inputs.feature(stored);
    if (!def.onlineProvider) throw new PermanentError(`feature ${ref} has no onlineProvider: there is nothing to materialize`);
    const params = taskParams(ctx.params);
    const asOf = params.asOf ?? new Date();
    const previous = readWatermark(ctx.previousWatermark);
    const since = params.full || previous === null || previous.getTime() > asOf.getTime() ? undefined : previous;

    const [offline, online] = await Promise.all([providers.offline(provider), providers.online(def.onlineProvider)]);
    const table = onlineTableOf({ entity: def.entity, ref });
    const ttlSeconds = def.ttl ? durationSeconds(def.ttl) : undefined;
    await online.ensureTable({ ...table, valueType: def.valueType, ...(ttlSeconds !== undefined ? { ttlSeconds } : {}) });

    const plan = planMaterialization({ feature: spec, asOf, ...(since ? { since } : {}) });
    const query = offline.compiler.compile(plan);
    const converter = new OnlineRowConverter({
      keyColumns: plan.keyOutputNames,
      keyTypes: entity.keys.map((k) => k.type),
      valueColumn: plan.valueOutputName,
      valueType: def.valueType,
      eventTsColumn: plan.eventTimestampOutputName,
      ...(spec.aggregation ? { fixedEventTs: asOf.getTime() } : {}),
    });
    const kind = spec.aggregation ? `${spec.aggregation.fn} over ${def.aggregation!.window}` : 'latest value';
    ctx.log(
      `materializing ${ref} (${kind}) from ${input.ref} in ${provider} into ${def.onlineProvider} as of ${asOf.toISOString()}` +
        (since ? `, incremental since ${since.toISOString()}` : ', full'),
    );

    const meter = new ProgressMeter();
    let rowsRead = 0;
    let written = 0;
    let skippedOlder = 0;
    const writes = new WriteWindow(writesInFlight);
    try {
      for await (const batch of prefetch(offline.executor.stream<OfflineRow>(query, { batchSize, signal: ctx.signal }))) {
        rowsRead += batch.length;
        const rows: OnlineWriteRow[] = converter.convert(batch);
        await writes.add(
          online.writeBatch(table.entity, table.table, rows).then((result) => {
            written += result.written;
            skippedOlder += result.skippedOlder;
          }),
        );
        await ctx.heartbeat();
        const line = meter.tick(rowsRead);
        if (line) ctx.log(`${line}: ${rowsRead} rows read, ${written} written`);
      }
      await writes.drain();
    } finally {
      // Leave nothing writing behind a failed or aborted run (a retry must not race its own leftovers).
      await writes.settle();
    }
    ctx.signal.throwIfAborted();

    let warning: string | undefined;
    if (rowsRead === 0 && since === undefined) {
      const sourceRows = await countRows(offline, input.relation);
      if (sourceRows > 0) {
        warning =
          `read 0 rows from ${input.ref}, which has ${sourceRows} rows: check the timestamp column (rows must have ts ≤ ${asOf.toISOString()}) ` +
          `and the key columns (rows with a null key are skipped)`;
        ctx.log(warning, 'warn');
      }
    } else if (rowsRead === 0) {
      ctx.log(`no key changed since ${since!.toISOString()}`);
    }
    if (skippedOlder > 0) ctx.log(`${skippedOlder} rows kept a newer stored value (compare-and-set on event time)`);
    ctx.log(`${meter.summary(rowsRead)}; ${written} written, ${skippedOlder} skipped as older`);
    // A backfill as of an older instant leaves newer values in place: the watermark never moves backwards.
    const watermark = previous !== null && previous.getTime() > asOf.getTime() ? previous : asOf;
    return { rowsRead, rowsWritten: written, watermark: watermark.toISOString(), ...(warning !== undefined ? { warning } : {}) };
  };
}

/** `SELECT COUNT(*)` of a relation (the 0-rows check). */
export async function countRows(store: OfflineStore, relation: Relation): Promise<number> {
  const all = store.compiler.compileSelectAll(relation);
  const rows = await store.executor.query(compiledQuery(`SELECT COUNT(*) AS ${store.compiler.quoteIdentifier('n')} FROM (\n${all.sql}\n) AS ${store.compiler.quoteIdentifier('__trellis_count')}`, all.parameters));
  return Number(rows[0]?.n ?? 0);
}

/**
 * At most `limit` writes in flight: `add` waits while the window is full and rethrows the first failure (from
 * `add` or `drain`); `settle` waits for everything still running, whatever its outcome.
 */
export class WriteWindow {
  readonly #limit: number;
  readonly #pending = new Set<Promise<void>>();
  #failure: { error: unknown } | undefined;

  constructor(limit: number) {
    if (!Number.isSafeInteger(limit) || limit < 1) throw new TypeError(`writesInFlight must be a positive integer, got ${String(limit)}`);
    this.#limit = limit;
  }

  async add(write: Promise<void>): Promise<void> {
    const tracked = write.then(
      () => {
        this.#pending.delete(tracked);
      },
      (error: unknown) => {
        this.#pending.delete(tracked);
        this.#failure ??= { error };
      },
    );
    this.#pending.add(tracked);
    while (this.#failure === undefined && this.#pending.size >= this.#limit) await Promise.race(this.#pending);
    this.#throwIfFailed();
  }

  async drain(): Promise<void> {
    await this.settle();
    this.#throwIfFailed();
  }

  async settle(): Promise<void> {
    while (this.#pending.size > 0) await Promise.all(this.#pending);
  }

  #throwIfFailed(): void {
    if (this.#failure !== undefined) throw this.#failure.error;
  }
}

/**
 * Asks for the next chunk while the consumer works on the current one: at most two chunks in memory, and the
 * warehouse read overlaps the online write. Returning early (break/throw) releases the source iterator.
 */
export async function* prefetch<T>(source: AsyncIterable<T>): AsyncGenerator<T> {
  const iterator = source[Symbol.asyncIterator]();
  let next = iterator.next();
  let finished = false;
  try {
    for (;;) {
      const result = await next;
      if (result.done) {
        finished = true;
        return;
      }
      next = iterator.next();
      next.catch(() => {});
      yield result.value;
    }
  } finally {
    if (!finished) {
      // Let the in-flight fetch settle before closing the cursor (generators refuse return() while running).
      await next.catch(() => {});
      await iterator.return?.().catch(() => {});
    }
  }
}
