/**
 * One coordinator replica running the real task bodies (materialization, transformation, training set) in its own
 * process — for the materialization fault tests (test/fault/materialization-kill.test.ts) and benchmarks. Run
 * `node dist/scripts/materialize-worker.js` with:
 *
 * - TRELLIS_DATABASE_URL (required): a migrated registry database on Postgres holding the definitions and runs
 * - TRELLIS_DATA_DIR: where embedded providers keep files (default a temporary directory)
 * - TRELLIS_REPLICA_ID (`worker-<pid>`), TRELLIS_CONCURRENCY (2), TRELLIS_LEASE_MS (2000), TRELLIS_POLL_MS (200)
 * - TRELLIS_BATCH_SIZE: rows per materialization chunk (default 10 000)
 * - TRELLIS_WRITE_DELAY_MS: sleep before every online write (default 0) — a slow online store, so a test can kill
 *   the process in the middle of a run
 *
 * Prints `{"event":"ready",…}` once started and `{"event":"written","rows":n}` after every online write batch.
 * SIGTERM/SIGINT stop it gracefully (leases released) and exit 0.
 */
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { builtinAdapters } from '../src/builtin-adapters.js';
import { Coordinator } from '../src/coordinator/coordinator.js';
import { createTaskHandlers } from '../src/coordinator/tasks/task-handlers.js';
import { openPostgresDatabase } from '../src/registry/registry-database.js';
import { Registry } from '../src/registry/registry.js';
import { ProviderPool } from '../src/serving/provider-pool.js';
import type { OnlineStore } from '../src/spi/online-store.js';

const env = process.env;
const url = env.TRELLIS_DATABASE_URL;
if (!url) {
  console.error('TRELLIS_DATABASE_URL is required');
  process.exit(2);
}
const int = (name: string, fallback: number) => (env[name] ? Number.parseInt(env[name]!, 10) : fallback);
const leaseMs = int('TRELLIS_LEASE_MS', 2_000);
const writeDelayMs = int('TRELLIS_WRITE_DELAY_MS', 0);
const emit = (event: Record<string, unknown>) => process.stdout.write(`${JSON.stringify(event)}\n`);

/** The shared pool, with every online write reported (and optionally slowed down). */
class ObservedProviderPool extends ProviderPool {
  override async online(providerRef: string): Promise<OnlineStore> {
    const store = await super.online(providerRef);
    const writeBatch = store.writeBatch.bind(store);
    const observed = async (entity: string, table: string, rows: Parameters<OnlineStore['writeBatch']>[2]) => {
      if (writeDelayMs > 0) await new Promise((resolve) => setTimeout(resolve, writeDelayMs));
      const result = await writeBatch(entity, table, rows);
      emit({ event: 'written', table, rows: rows.length });
      return result;
    };
    // A Proxy whose members run against the real store (its #private fields need the real `this`).
    return new Proxy(store, {
      get(target, property) {
        if (property === 'writeBatch') return observed;
        const value: unknown = Reflect.get(target, property, target);
        return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
      },
    });
  }
}

const db = await openPostgresDatabase(url);
const adapters = builtinAdapters({ onlineTimeoutMs: 1_000 });
const registry = new Registry(db, { providerTypes: adapters.providerTypes() });
const dataDir = env.TRELLIS_DATA_DIR ?? mkdtempSync(path.join(os.tmpdir(), 'trellis-materialize-worker-'));
const providers = new ObservedProviderPool(registry, adapters, dataDir);
const replicaId = env.TRELLIS_REPLICA_ID ?? `worker-${process.pid}`;

const coordinator = new Coordinator({
  db,
  handlers: createTaskHandlers({ registry, providers, materialization: { batchSize: int('TRELLIS_BATCH_SIZE', 10_000) } }),
  id: replicaId,
  concurrency: int('TRELLIS_CONCURRENCY', 2),
  leaseMs,
  heartbeatMs: Math.floor(leaseMs / 4),
  pollMs: int('TRELLIS_POLL_MS', 200),
  retry: { baseDelayMs: 100, maxDelayMs: 2_000, jitter: 0.2 },
  schedules: false,
  stopGraceMs: 0,
  logger: (level, message, fields) => {
    if (level !== 'debug') process.stderr.write(`${JSON.stringify({ level, message, ...fields })}\n`);
  },
});

let stopping = false;
const shutdown = async () => {
  if (stopping) return;
  stopping = true;
  await coordinator.stop();
  await providers.close();
  await db.close();
  emit({ event: 'stopped', id: coordinator.id });
  process.exit(0);
};
process.on('SIGTERM', () => void shutdown());
process.on('SIGINT', () => void shutdown());

await coordinator.start();
emit({ event: 'ready', id: coordinator.id, pid: process.pid });
