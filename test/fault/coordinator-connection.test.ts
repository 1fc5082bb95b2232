/**
 * The registry's Postgres connections dropped under a running coordinator (`pg_terminate_backend` on every
 * backend of its database: the query in flight, the idle pool, the LISTEN connection). The coordinator must
 * reconnect, and the run must either complete or be retried cleanly.
 */
import pg from 'pg';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { CoordinatorLogger } from '../../src/coordinator/coordinator.js';
import { RunStore } from '../../src/coordinator/run-store.js';
import type { RunKey } from '../../src/coordinator/run-types.js';
import { CoordinatorPool, everyTask, latch, openCoordinatorDatabase, waitFor, waitForStatus, type CoordinatorTestDatabase } from '../support/coordinator-harness.js';

const feature = (name: string): RunKey => ({ kind: 'feature', name, variant: 'default', task: 'materialization' });

describe('coordinator when Postgres drops its connections', () => {
  let t: CoordinatorTestDatabase;
  let admin: pg.Client;
  let store: RunStore;
  /** Reads through the admin connection, which terminateAll() spares. */
  const adminDb = { query: async <T extends Record<string, unknown>>(text: string, params?: readonly unknown[]) => ({ rows: (await admin.query(text, params as unknown[])).rows as T[] }) };
  const pool = new CoordinatorPool();

  /** Terminates every other backend connected to the test database; returns how many. */
  const terminateAll = async () => {
    const { rows } = await admin.query<{ pid: number }>(
      'select pid from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid()',
    );
    for (const { pid } of rows) await admin.query('select pg_terminate_backend($1)', [pid]);
    return rows.length;
  };

  beforeAll(async () => {
    t = await openCoordinatorDatabase('postgres', 'coord_conn');
    store = new RunStore(t.db);
    admin = new pg.Client({ connectionString: t.url! });
    await admin.connect();
  });
  afterAll(async () => {
    await admin?.end().catch(() => {});
    await t?.close();
  });
  beforeEach(async () => {
    await admin.query('truncate runs, run_schedule_ticks');
  });
  afterEach(async () => {
    await pool.stopAll();
  });

  it('a query of the task killed mid-run is a transient error: the run is retried and ends READY', async () => {
    const db = await t.connect();
    await pool.start({
      db,
      handlers: everyTask(async (_run, ctx) => {
        if (ctx.attempt === 1) await db.query('select pg_sleep(60)');
        return { rowsWritten: 42 };
      }),
    });
    const { run } = await store.create(feature('killed_query'));
    await waitFor('the task to be inside pg_sleep', async () => {
      const { rows } = await admin.query(`select 1 from pg_stat_activity where datname = current_database() and query like 'select pg_sleep(60)%' and state = 'active'`);
      return rows.length > 0;
    });
    expect(await terminateAll()).toBeGreaterThan(0);

    const done = await waitForStatus(adminDb, run.id, ['READY', 'FAILED'], 30_000);
    expect(done).toMatchObject({ status: 'READY', attempts: 2 });
    const logs = (await store.get(run.id))!.logs.map((l) => l.message);
    expect(logs).toContainEqual(expect.stringMatching(/^attempt 1 failed after .* \(transient\): terminating connection due to administrator command \(57P01\); retrying in \d+ms$/));
    expect((await store.get(run.id))!.rowsWritten).toBe(42);
  });

  it('every connection dropped while a task runs: the coordinator reconnects, records the outcome, resubscribes and keeps working', async () => {
    const db = await t.connect();
    const messages: string[] = [];
    const logger: CoordinatorLogger = (_level, message) => messages.push(message);
    const proceed = latch();
    await pool.start({
      db,
      logger,
      pollMs: 200,
      handlers: everyTask(async (run) => {
        if (run.name === 'survives_drop') await proceed.promise;
        return { rowsWritten: 1 };
      }),
    });
    const { run } = await store.create(feature('survives_drop'));
    await waitForStatus(t.db, run.id, 'RUNNING');
    // Let a heartbeat and the LISTEN connection be open, then drop everything, twice.
    expect(await terminateAll()).toBeGreaterThan(0);
    await new Promise((r) => setTimeout(r, 300));
    await terminateAll();
    proceed.release();

    const done = await waitForStatus(adminDb, run.id, ['READY', 'FAILED'], 30_000);
    expect(done).toMatchObject({ status: 'READY', attempts: 1 });
    // The dead LISTEN connection is noticed (an unanswered ping or a failed query) and replaced.
    await waitFor('the coordinator to resubscribe to notifications', () => messages.includes('resubscribed to run notifications'), 20_000);
    const next = await store.create(feature('after_drop'));
    expect(await waitForStatus(t.db, next.run.id, 'READY', 10_000)).toMatchObject({ attempts: 1 });
  });
});
