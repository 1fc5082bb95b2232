import { Coordinator, type TaskHandler } from '../../src/coordinator/coordinator.js';
import { RunStore } from '../../src/coordinator/run-store.js';
import { migrate } from '../../src/registry/migrations.js';
import { openPgliteDatabase, openPostgresDatabase, type RegistryDatabase } from '../../src/registry/registry-database.js';

/**
 * Overhead of the run machinery alone (no warehouse, no online store): how many no-op runs per second the
 * queue moves (create → claim with a lease → READY, logs included), and how long an idle coordinator takes
 * to start a new run (NOTIFY wake-up). PGlite in memory always; Postgres when TRELLIS_BENCH_PG_URL names a
 * fresh database (its runs table is truncated).
 *
 *   node dist/bench/materialize/run-queue-bench.js        (TRELLIS_BENCH_RUNS, default 2000)
 */
const runs = Number(process.env.TRELLIS_BENCH_RUNS ?? 2000);
const noop: TaskHandler = async () => ({ rowsRead: 0, rowsWritten: 0 });
const handlers = { transformation: noop, materialization: noop, training_set: noop };

async function throughput(label: string, open: () => Promise<RegistryDatabase>, replicas: number, concurrency: number) {
  const db = await open();
  await db.exec('truncate runs, run_schedule_ticks');
  const store = new RunStore(db);
  const extra: RegistryDatabase[] = [];
  const coordinators: Coordinator[] = [];
  try {
    for (let i = 0; i < replicas; i++) {
      const handle = i === 0 || db.flavour === 'pglite' ? db : await open();
      if (handle !== db) extra.push(handle);
      coordinators.push(new Coordinator({ db: handle, handlers, concurrency, pollMs: 200, leaseMs: 30_000 }));
    }
    const started = performance.now();
    for (let i = 0; i < runs; i += 100) {
      await Promise.all(Array.from({ length: Math.min(100, runs - i) }, (_, j) => store.create({ kind: 'feature', name: `f_${i + j}`, variant: 'default', task: 'materialization' })));
    }
    const created = performance.now();
    await Promise.all(coordinators.map((c) => c.start()));
    for (;;) {
      const { rows } = await db.query<{ n: string | number }>(`select count(*) as n from runs where status <> 'READY'`);
      if (Number(rows[0]!.n) === 0) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    const drained = performance.now();
    const seconds = (drained - created) / 1000;
    console.log(
      `${label.padEnd(34)} create ${Math.round(runs / ((created - started) / 1000))
        .toString()
        .padStart(6)} runs/s   execute ${Math.round(runs / seconds).toString().padStart(6)} runs/s (${replicas} × ${concurrency} workers)`,
    );

    // Start latency with idle coordinators: one run at a time, woken by NOTIFY (poll is 200 ms).
    const latencies: number[] = [];
    for (let i = 0; i < 50; i++) {
      const t0 = performance.now();
      const { run } = await store.create({ kind: 'feature', name: `latency_${i}`, variant: 'default', task: 'materialization' });
      for (;;) {
        const { rows } = await db.query<{ status: string }>('select status from runs where id = $1', [run.id]);
        if (rows[0]!.status === 'READY') break;
        await new Promise((r) => setTimeout(r, 1));
      }
      latencies.push(performance.now() - t0);
    }
    latencies.sort((a, b) => a - b);
    console.log(`${''.padEnd(34)} trigger → READY p50 ${latencies[24]!.toFixed(1)} ms, p95 ${latencies[47]!.toFixed(1)} ms`);
  } finally {
    await Promise.all(coordinators.map((c) => c.stop({ graceMs: 0 })));
    for (const handle of extra) await handle.close();
    await db.close();
  }
}

const pglite = async () => {
  const db = await openPgliteDatabase(null);
  await migrate(db);
  return db;
};
await throughput('PGlite (in memory)', pglite, 1, 4);

const url = process.env.TRELLIS_BENCH_PG_URL;
if (url) {
  const postgres = async () => {
    const db = await openPostgresDatabase(url);
    await migrate(db);
    return db;
  };
  await throughput('Postgres, 1 replica', postgres, 1, 4);
  await throughput('Postgres, 3 replicas', postgres, 3, 4);
} else {
  console.log('set TRELLIS_BENCH_PG_URL to a fresh Postgres database to measure Postgres too');
}
