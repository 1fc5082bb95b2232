/**
 * One coordinator replica in its own process, with a task body that records every execution — for the fault
 * tests (test/fault/coordinator-*.test.ts) and benchmarks. Run `node dist/scripts/coordinator-worker.js` with:
 *
 * - TRELLIS_DATABASE_URL (required): a migrated registry database on Postgres
 * - TRELLIS_REPLICA_ID: replica id (default `worker-<pid>`); TRELLIS_CONCURRENCY (4); TRELLIS_LEASE_MS (2000);
 *   TRELLIS_HEARTBEAT_MS (lease / 4); TRELLIS_POLL_MS (200)
 * - TRELLIS_EXECUTIONS_TABLE (coordinator_executions): a table `(id bigserial, run_id bigint, replica text,
 *   attempt int, started_at timestamptz, finished_at timestamptz)` the task body inserts into when it starts and updates
 *   when it ends
 *
 * The task body sleeps `params.sleepMs` (honouring its AbortSignal) — only on replica `params.slowReplica` when
 * that is set, the other replicas sleep `params.fastSleepMs` (default 0). Prints `{"event":"ready","id":…}`
 * once started; SIGTERM/SIGINT stop it gracefully (leases released) and exit 0.
 */
import { Coordinator, type TaskHandler } from '../src/coordinator/coordinator.js';
import { openPostgresDatabase } from '../src/registry/registry-database.js';

const env = process.env;
const url = env.TRELLIS_DATABASE_URL;
if (!url) {
  console.error('TRELLIS_DATABASE_URL is required');
  process.exit(2);
}
const table = env.TRELLIS_EXECUTIONS_TABLE ?? 'coordinator_executions';
if (!/^[a-z_][a-z0-9_]{0,62}$/.test(table)) {
  console.error(`invalid TRELLIS_EXECUTIONS_TABLE ${table}`);
  process.exit(2);
}
const int = (name: string, fallback: number) => (env[name] ? Number.parseInt(env[name]!, 10) : fallback);
const leaseMs = int('TRELLIS_LEASE_MS', 2_000);

const emit = (event: Record<string, unknown>) => process.stdout.write(`${JSON.stringify(event)}\n`);

const db = await openPostgresDatabase(url);

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });

const replicaId = env.TRELLIS_REPLICA_ID ?? `worker-${process.pid}`;
const recordExecution: TaskHandler = async (run, ctx) => {
  const { rows } = await db.query<{ id: string }>(
    `insert into ${table} (run_id, replica, attempt, started_at) values ($1, $2, $3, clock_timestamp()) returning id`,
    [run.id, replicaId, ctx.attempt],
  );
  const params = ctx.params as { sleepMs?: number; slowReplica?: string; fastSleepMs?: number };
  const slow = params.slowReplica === undefined || params.slowReplica === replicaId;
  const ms = slow ? (params.sleepMs ?? 0) : (params.fastSleepMs ?? 0);
  ctx.log(`executing on ${replicaId}, sleeping ${ms}ms`);
  if (ms > 0) await sleep(ms, ctx.signal);
  await db.query(`update ${table} set finished_at = clock_timestamp() where id = $1`, [rows[0]!.id]);
  return { rowsRead: 1, rowsWritten: 1 };
};

const coordinator = new Coordinator({
  db,
  handlers: { transformation: recordExecution, materialization: recordExecution, training_set: recordExecution },
  id: replicaId,
  concurrency: int('TRELLIS_CONCURRENCY', 4),
  leaseMs,
  heartbeatMs: int('TRELLIS_HEARTBEAT_MS', Math.floor(leaseMs / 4)),
  pollMs: int('TRELLIS_POLL_MS', 200),
  retry: { baseDelayMs: 100, maxDelayMs: 2_000, jitter: 0.2 },
  stopGraceMs: int('TRELLIS_STOP_GRACE_MS', 0),
  logger: (level, message, fields) => {
    if (level !== 'debug') process.stderr.write(`${JSON.stringify({ level, message, ...fields })}\n`);
  },
});

let stopping = false;
const shutdown = async () => {
  if (stopping) return;
  stopping = true;
  await coordinator.stop();
  await db.close();
  emit({ event: 'stopped', id: coordinator.id });
  process.exit(0);
};
process.on('SIGTERM', () => void shutdown());
process.on('SIGINT', () => void shutdown());

await coordinator.start();
emit({ event: 'ready', id: coordinator.id, pid: process.pid });
