/**
 * Coordinator replicas as separate `node` processes against one real Postgres database: exactly-once
 * execution across replicas, a replica killed with SIGKILL in the middle of a task, a replica stopped with
 * SIGTERM. The task body (scripts/coordinator-worker.ts) records every execution in a table.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { RunStore } from '../../src/coordinator/run-store.js';
import type { RunKey } from '../../src/coordinator/run-types.js';
import { migrate } from '../../src/registry/migrations.js';
import { openPostgresDatabase, type RegistryDatabase } from '../../src/registry/registry-database.js';
import { buildCoordinatorWorker, spawnReplica, type CompiledWorker, type Replica } from '../support/coordinator-child.js';
import { waitFor, waitForStatus } from '../support/coordinator-harness.js';
import { createTestDatabase, type TestDatabase } from '../support/services.js';

interface Execution {
  run_id: string;
  replica: string;
  attempt: number;
  started_at: Date;
  finished_at: Date | null;
}

const task = (name: string): RunKey => ({ kind: 'transformation', name, variant: 'default', task: 'transformation' });

describe('coordinator replicas in separate processes', () => {
  let worker: CompiledWorker;
  let database: TestDatabase;
  let db: RegistryDatabase;
  let store: RunStore;
  const replicas: Replica[] = [];

  const start = async (id: string, env: Record<string, string> = {}) => {
    const replica = spawnReplica(worker.script, id, { TRELLIS_DATABASE_URL: database.url, ...env });
    replicas.push(replica);
    await replica.ready;
    return replica;
  };
  const executions = async () =>
    (await db.query<Execution & Record<string, unknown>>('select run_id, replica, attempt, started_at, finished_at from coordinator_executions order by id')).rows;

  beforeAll(async () => {
    [worker, database] = await Promise.all([buildCoordinatorWorker(), createTestDatabase('coord_fault')]);
    db = await openPostgresDatabase(database.url);
    await migrate(db);
    await db.exec(`create table coordinator_executions (
      id bigserial primary key, run_id bigint not null, replica text not null, attempt int not null,
      started_at timestamptz not null, finished_at timestamptz)`);
    store = new RunStore(db);
  }, 240_000);
  afterAll(async () => {
    for (const r of replicas) r.child.kill('SIGKILL');
    await db?.close();
    await database?.drop();
    worker?.cleanup();
  });
  beforeEach(async () => {
    await db.exec('truncate runs, run_schedule_ticks, coordinator_executions');
  });
  afterEach(async () => {
    const running = replicas.splice(0);
    for (const r of running) r.child.kill('SIGTERM');
    await Promise.all(running.map((r) => r.exited));
  });

  it('3 replicas × 50 tasks: every task is executed exactly once', async () => {
    const three = await Promise.all(['replica-a', 'replica-b', 'replica-c'].map((id) => start(id, { TRELLIS_CONCURRENCY: '4', TRELLIS_LEASE_MS: '10000' })));
    const ids: number[] = [];
    for (let i = 0; i < 50; i++) ids.push((await store.create({ ...task(`task_${i}`), params: { sleepMs: 25 } })).run.id);

    await waitFor('all 50 runs READY', async () => {
      const { rows } = await db.query<{ n: string }>(`select count(*) as n from runs where status = 'READY'`);
      return Number(rows[0]!.n) === 50;
    }, 60_000);

    const done = await executions();
    const perRun = new Map<number, Execution[]>();
    for (const e of done) perRun.set(Number(e.run_id), [...(perRun.get(Number(e.run_id)) ?? []), e]);
    expect([...perRun.keys()].sort((a, b) => a - b)).toEqual(ids);
    expect([...perRun.values()].every((list) => list.length === 1 && list[0]!.attempt === 1 && list[0]!.finished_at !== null)).toBe(true);
    const { rows } = await db.query<{ attempts: number }>('select distinct attempts from runs');
    expect(rows).toEqual([{ attempts: 1 }]);
    const byReplica = new Map<string, number>();
    for (const e of done) byReplica.set(e.replica, (byReplica.get(e.replica) ?? 0) + 1);
    // Work spreads: NOTIFY wakes every replica, the first to lock a row takes it.
    expect(byReplica.size).toBeGreaterThanOrEqual(2);
    for (const r of three) r.child.kill('SIGTERM');
    expect((await Promise.all(three.map((r) => r.exited))).map((e) => e.code)).toEqual([0, 0, 0]);
  });

  it('kill -9 of a replica mid-task: another replica takes the run over after the lease expires and finishes it', async () => {
    const victim = await start('victim', { TRELLIS_LEASE_MS: '1500', TRELLIS_HEARTBEAT_MS: '250', TRELLIS_CONCURRENCY: '1' });
    const { run } = await store.create({ ...task('killed_mid_task'), params: { sleepMs: 120_000, slowReplica: 'victim' } });
    await waitFor('the victim to start the task', async () => (await executions()).some((e) => e.replica === 'victim'));
    await start('survivor', { TRELLIS_LEASE_MS: '1500', TRELLIS_HEARTBEAT_MS: '250', TRELLIS_CONCURRENCY: '2' });

    victim.child.kill('SIGKILL');
    expect((await victim.exited).signal).toBe('SIGKILL');
    const { rows } = await db.query<{ lease_expires_at: Date; status: string; lease_owner: string }>('select lease_expires_at, status, lease_owner from runs where id = $1', [run.id]);
    expect(rows[0]).toMatchObject({ status: 'RUNNING', lease_owner: 'victim/w0' });
    const expiry = rows[0]!.lease_expires_at.getTime();

    await waitForStatus(db, run.id, 'READY', 30_000);
    const finished = (await store.get(run.id))!;
    expect(finished).toMatchObject({ attempts: 2, leaseOwner: expect.stringMatching(/^survivor\/w\d$/), rowsWritten: 1 });
    const messages = finished.logs.map((l) => l.message);
    const requeued = messages.indexOf('the lease of victim/w0 expired during attempt 1; requeued');
    expect(requeued).toBeGreaterThan(0);
    expect(messages[requeued + 1]).toMatch(/^attempt 2 of 3 started by survivor\/w\d$/);
    const [first, second, ...rest] = await executions();
    expect(rest).toEqual([]);
    expect(first).toMatchObject({ replica: 'victim', attempt: 1, finished_at: null });
    expect(second).toMatchObject({ replica: 'survivor', attempt: 2 });
    expect(second!.started_at.getTime()).toBeGreaterThanOrEqual(expiry);
  });

  it('SIGTERM: the replica releases its lease and another one takes the run at once, without using an attempt', async () => {
    const leaving = await start('leaving', { TRELLIS_LEASE_MS: '60000', TRELLIS_CONCURRENCY: '1' });
    const { run } = await store.create({ ...task('handed_over'), params: { sleepMs: 120_000, slowReplica: 'leaving' } });
    await waitFor('the leaving replica to start the task', async () => (await executions()).some((e) => e.replica === 'leaving'));
    await start('staying', { TRELLIS_LEASE_MS: '60000' });
    leaving.child.kill('SIGTERM');
    expect((await leaving.exited).code).toBe(0);
    // Far sooner than the 60 s lease: the lease was released, not left to expire.
    await waitForStatus(db, run.id, 'READY', 15_000);
    expect((await store.get(run.id))!).toMatchObject({ attempts: 1, leaseOwner: expect.stringMatching(/^staying\//) });
    expect((await executions()).map((e) => [e.replica, e.attempt])).toEqual([['leaving', 1], ['staying', 1]]);
  });
});
