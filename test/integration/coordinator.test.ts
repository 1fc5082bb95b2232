import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { TaskHandler } from '../../src/coordinator/coordinator.js';
import { RunStore } from '../../src/coordinator/run-store.js';
import type { RunKey } from '../../src/coordinator/run-types.js';
import { PermanentError, TransientError, isRunAborted } from '../../src/coordinator/task-errors.js';
import {
  CoordinatorPool,
  abortableSleep,
  everyTask,
  flavours,
  latch,
  openCoordinatorDatabase,
  waitFor,
  waitForStatus,
  type CoordinatorTestDatabase,
} from '../support/coordinator-harness.js';

const feature = (name: string): RunKey => ({ kind: 'feature', name, variant: 'default', task: 'materialization' });
const transformation = (name: string): RunKey => ({ kind: 'transformation', name, variant: 'default', task: 'transformation' });
const trainingSet = (name: string): RunKey => ({ kind: 'training_set', name, variant: 'default', task: 'training_set' });
const ok: TaskHandler = async () => ({});

describe.each(flavours)('coordinator on %s', (flavour) => {
  let t: CoordinatorTestDatabase;
  let store: RunStore;
  const pool = new CoordinatorPool();

  beforeAll(async () => {
    t = await openCoordinatorDatabase(flavour);
    store = new RunStore(t.db);
  });
  afterAll(async () => {
    await t?.close();
  });
  // Every test starts from an empty queue, so no coordinator picks up another test's runs.
  beforeEach(async () => {
    await t.db.exec('truncate runs, run_schedule_ticks');
  });
  afterEach(async () => {
    await pool.stopAll();
  });

  it('takes a run from PENDING to READY with row counts, timings, watermark and logs', async () => {
    const seen: { previous: string | null; params: unknown }[] = [];
    const coordinator = await pool.start({
      db: t.db,
      handlers: everyTask(async (run, ctx) => {
        seen.push({ previous: ctx.previousWatermark, params: ctx.params });
        ctx.log(`materializing ${run.name}`);
        ctx.log('half way', 'warn');
        await ctx.heartbeat();
        return { rowsRead: 10, rowsWritten: 7, watermark: `2024-01-0${seen.length}T00:00:00Z` };
      }),
    });
    const { run, coalesced } = await coordinator.store.create({ ...feature('f1'), params: { full: true } });
    expect(coalesced).toBe(false);
    expect(run).toMatchObject({ status: 'PENDING', attempts: 0, maxAttempts: 3, dependsOn: [], triggeredBy: 'manual', startedAt: null });
    await waitForStatus(t.db, run.id, 'READY');
    const done = (await store.get(run.id))!;
    expect(done).toMatchObject({ status: 'READY', attempts: 1, rowsRead: 10, rowsWritten: 7, watermark: '2024-01-01T00:00:00Z', error: null, leaseExpiresAt: null });
    expect(done.leaseOwner).toMatch(new RegExp(`^${coordinator.id.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}/w\\d$`));
    expect(Date.parse(done.startedAt!)).toBeLessThanOrEqual(Date.parse(done.finishedAt!));
    expect(done.logs.map((l) => l.message)).toEqual([
      `attempt 1 of 3 started by ${done.leaseOwner}`,
      'materializing f1',
      'half way',
      expect.stringMatching(/^READY in \d+\.\d+s \(10 rows read, 7 rows written\)$/),
    ]);
    expect(done.logs[2]).toMatchObject({ level: 'warn', attempt: 1, worker: done.leaseOwner });
    expect(seen[0]).toEqual({ previous: null, params: { full: true } });

    // The next run of the same key starts from the last watermark.
    const second = await coordinator.store.create(feature('f1'));
    await waitForStatus(t.db, second.run.id, 'READY');
    expect(seen[1]!.previous).toBe('2024-01-01T00:00:00Z');
    expect(await store.lastWatermark(feature('f1'))).toBe('2024-01-02T00:00:00Z');
  });

  it('refuses illegal status transitions in the database itself', async () => {
    const { run } = await store.create(feature('guarded'));
    const setStatus = (id: number, status: string) => t.db.query('update runs set status = $2 where id = $1', [id, status]);
    await expect(setStatus(run.id, 'READY')).rejects.toThrow(/illegal run status transition PENDING -> READY/);
    await expect(setStatus(run.id, 'BOGUS')).rejects.toThrow();
    await expect(
      t.db.query(`insert into runs (kind, name, variant, task, status) values ('feature', 'x', 'default', 'materialization', 'RUNNING')`),
    ).rejects.toThrow(/starts CREATED or PENDING/);

    const waiting = await store.create({ ...feature('guarded_downstream'), dependsOn: [run.id] });
    expect(waiting.run.status).toBe('CREATED');
    await expect(setStatus(waiting.run.id, 'RUNNING')).rejects.toThrow(/CREATED -> RUNNING/);

    const lease = await store.claim('test/w0', ['materialization'], 5_000);
    expect(lease).toMatchObject({ attempt: 1, owner: 'test/w0', previousWatermark: null });
    if (!lease || lease === 'contended') throw new Error('expected a lease');
    expect(lease.run.id).toBe(run.id);
    // The downstream run is not claimable while its upstream is not READY.
    expect(await store.claim('test/w1', ['materialization'], 5_000)).toBeNull();
    expect(await store.complete(lease, { rowsWritten: 1 })).toMatchObject({ status: 'READY' });
    await expect(setStatus(run.id, 'RUNNING')).rejects.toThrow(/READY -> RUNNING/);
    await expect(setStatus(run.id, 'PENDING')).rejects.toThrow(/READY -> PENDING/);
    // Completing promoted the waiting run.
    expect((await store.get(waiting.run.id))!.status).toBe('PENDING');

    // Two runs of one key can never be RUNNING together, even bypassing the claim query.
    const a = await store.create({ ...feature('solo'), params: { n: 1 } });
    const b = await store.create({ ...feature('solo'), params: { n: 2 } });
    await t.db.query(`update runs set status = 'RUNNING', lease_owner = 'x', lease_expires_at = now() + interval '1 minute' where id = $1`, [a.run.id]);
    await expect(t.db.query(`update runs set status = 'RUNNING' where id = $1`, [b.run.id])).rejects.toThrow(/runs_one_running_idx|duplicate key/);
  });

  it('runs upstream runs first and waits for all of them', async () => {
    const events: string[] = [];
    await pool.start({
      db: t.db,
      concurrency: 4,
      handlers: everyTask(async (run) => {
        events.push(`start ${run.name}`);
        await new Promise((r) => setTimeout(r, 40));
        events.push(`end ${run.name}`);
        return {};
      }),
    });
    const a = (await store.create(transformation('a'))).run;
    const b = (await store.create({ ...feature('b'), dependsOn: [a.id] })).run;
    const d = (await store.create({ ...feature('d'), dependsOn: [a.id] })).run;
    const c = (await store.create({ ...trainingSet('c'), dependsOn: [b.id] })).run;
    const e = (await store.create({ ...trainingSet('e'), dependsOn: [b.id, d.id] })).run;
    for (const run of [a, b, c, d, e]) await waitForStatus(t.db, run.id, 'READY');
    const at = (event: string) => events.indexOf(event);
    expect(at('start b')).toBeGreaterThan(at('end a'));
    expect(at('start d')).toBeGreaterThan(at('end a'));
    expect(at('start c')).toBeGreaterThan(at('end b'));
    expect(at('start e')).toBeGreaterThan(Math.max(at('end b'), at('end d')));
    expect(events).toHaveLength(10);
  });

  it('cancels every run downstream of a failure, naming the cause', async () => {
    const broken = (await store.create(transformation('broken'))).run;
    const child = (await store.create({ ...feature('child'), dependsOn: [broken.id] })).run;
    const grandchild = (await store.create({ ...trainingSet('grandchild'), dependsOn: [child.id] })).run;
    const sibling = (await store.create(feature('sibling'))).run;
    expect([child.status, grandchild.status, sibling.status]).toEqual(['CREATED', 'CREATED', 'PENDING']);
    await pool.start({
      db: t.db,
      handlers: everyTask(async (run) => {
        if (run.name === 'broken') throw new PermanentError('relation "missing_table" does not exist');
        return {};
      }),
    });

    const failed = await waitForStatus(t.db, broken.id, 'FAILED');
    expect(failed.attempts).toBe(1);
    expect(failed.error).toBe('relation "missing_table" does not exist');
    const c = await waitForStatus(t.db, child.id, 'CANCELLED');
    expect(c.error).toBe(`upstream run #${broken.id} (transformation of transformation broken@default) failed: relation "missing_table" does not exist`);
    const g = await waitForStatus(t.db, grandchild.id, 'CANCELLED');
    expect(g.error).toMatch(new RegExp(`^upstream run #${child.id} \\(materialization of feature child@default\\) was cancelled: upstream run #${broken.id} `));
    await waitForStatus(t.db, sibling.id, 'READY');
    expect((await store.get(child.id))!.attempts).toBe(0);

    // A run created against a failed upstream is cancelled at once.
    const late = await store.create({ ...feature('late'), dependsOn: [broken.id] });
    expect(late.run.status).toBe('CANCELLED');
    expect(late.run.error).toContain(`upstream run #${broken.id}`);
  });

  it('retries transient errors with exponential backoff, fails permanent ones at once, and stops at max attempts', async () => {
    const starts = new Map<string, number[]>();
    await pool.start({
      db: t.db,
      concurrency: 3,
      handlers: everyTask(async (run, ctx) => {
        starts.set(run.name, [...(starts.get(run.name) ?? []), Date.now()]);
        switch (run.name) {
          case 'flaky':
            if (ctx.attempt < 3) throw new TransientError(`warehouse busy (attempt ${ctx.attempt})`);
            return { rowsWritten: 3 };
          case 'bad_sql':
            await t.db.query('selec 1 frm nowhere');
            return {};
          case 'refused':
            throw new PermanentError('the online provider refused the credentials');
          default:
            throw Object.assign(new Error('connection reset by peer'), { code: 'ECONNRESET' });
        }
      }),
    });
    const flaky = (await store.create(feature('flaky'))).run;
    const badSql = (await store.create(transformation('bad_sql'))).run;
    const refused = (await store.create(feature('refused'))).run;
    const exhausted = (await store.create({ ...trainingSet('exhausted'), maxAttempts: 2 })).run;

    expect(await waitForStatus(t.db, flaky.id, 'READY')).toMatchObject({ attempts: 3 });
    const [s1, s2, s3] = starts.get('flaky')!;
    expect(s2! - s1!).toBeGreaterThanOrEqual(100);
    expect(s3! - s2!).toBeGreaterThanOrEqual(200);
    const flakyLogs = (await store.get(flaky.id))!.logs.map((l) => l.message);
    expect(flakyLogs.filter((m) => m.includes('(transient)'))).toEqual([
      expect.stringMatching(/^attempt 1 failed after .* \(transient\): warehouse busy \(attempt 1\); retrying in 100ms$/),
      expect.stringMatching(/^attempt 2 failed after .* \(transient\): warehouse busy \(attempt 2\); retrying in 200ms$/),
    ]);

    const sql = await waitForStatus(t.db, badSql.id, 'FAILED');
    expect(sql.attempts).toBe(1);
    expect(sql.error).toMatch(/syntax error/);
    expect((await store.get(badSql.id))!.logs.at(-1)!.message).toMatch(/\(permanent error\)/);
    expect(await waitForStatus(t.db, refused.id, 'FAILED')).toMatchObject({ attempts: 1, error: 'the online provider refused the credentials' });
    const last = await waitForStatus(t.db, exhausted.id, 'FAILED');
    expect(last).toMatchObject({ attempts: 2, error: 'connection reset by peer (ECONNRESET)' });
    expect((await store.get(exhausted.id))!.logs.at(-1)!.message).toMatch(/transient error on the last attempt \(2\)/);
  });

  it('takes over a run whose worker stopped renewing its lease, and fences out the old worker', async () => {
    const { run } = await store.create(feature('orphan'));
    const ghost = await store.claim('ghost/w0', ['materialization'], 400);
    if (!ghost || ghost === 'contended') throw new Error('expected a lease');
    const expiry = Date.parse(ghost.run.leaseExpiresAt!);
    const attempts: { attempt: number; at: number }[] = [];
    await pool.start({
      db: t.db,
      handlers: everyTask(async (_run, ctx) => {
        attempts.push({ attempt: ctx.attempt, at: Date.now() });
        return { rowsWritten: 5 };
      }),
    });
    await waitForStatus(t.db, run.id, 'READY');
    expect(attempts).toHaveLength(1);
    expect(attempts[0]!.attempt).toBe(2);
    expect(attempts[0]!.at).toBeGreaterThanOrEqual(expiry);
    const done = (await store.get(run.id))!;
    expect(done.logs.map((l) => l.message).slice(0, 2)).toEqual([
      'the lease of ghost/w0 expired during attempt 1; requeued',
      expect.stringMatching(/^attempt 2 of 3 started by /),
    ]);
    // The old worker comes back: all its writes are refused.
    expect(await store.heartbeat(ghost, 1_000)).toBe('lost');
    expect(await store.complete(ghost, { rowsWritten: 999 })).toBeNull();
    expect(await store.fail(ghost, 'late')).toBeNull();
    expect((await store.get(run.id))!.rowsWritten).toBe(5);
  });

  it('fails a run whose worker died on its last attempt, and cancels what waits on it', async () => {
    const { run } = await store.create({ ...feature('last_try'), maxAttempts: 1 });
    const downstream = (await store.create({ ...trainingSet('after_last_try'), dependsOn: [run.id] })).run;
    const ghost = await store.claim('ghost/w9', ['materialization'], 200);
    expect(ghost).not.toBeNull();
    await pool.start({ db: t.db, handlers: everyTask(ok) });
    const failed = await waitForStatus(t.db, run.id, 'FAILED');
    expect(failed).toMatchObject({ attempts: 1, error: 'the lease of ghost/w9 expired on attempt 1 of 1' });
    expect((await waitForStatus(t.db, downstream.id, 'CANCELLED')).error).toContain(`upstream run #${run.id}`);
  });

  it('cancels a running run through its AbortSignal, and a waiting one with everything downstream', async () => {
    const aborted: unknown[] = [];
    await pool.start({
      db: t.db,
      handlers: everyTask(async (_run, ctx) => {
        try {
          await abortableSleep(60_000, ctx.signal);
        } catch (error) {
          aborted.push(error);
          throw error;
        }
        return {};
      }),
    });
    const running = (await store.create(transformation('long'))).run;
    const waiting = (await store.create({ ...feature('waits_on_long'), dependsOn: [running.id] })).run;
    const below = (await store.create({ ...trainingSet('below'), dependsOn: [waiting.id] })).run;
    await waitForStatus(t.db, running.id, 'RUNNING');

    const cancelledWaiting = (await store.cancel(waiting.id, 'not needed'))!;
    expect(cancelledWaiting).toMatchObject({ status: 'CANCELLED', error: 'not needed' });
    expect((await store.get(below.id))!).toMatchObject({ status: 'CANCELLED', error: expect.stringContaining(`upstream run #${waiting.id}`) });

    const requested = (await store.cancel(running.id, 'stop it'))!;
    // The worker may already have stopped it by the time cancel() reads the run back.
    expect(requested).toMatchObject({ status: expect.stringMatching(/^(RUNNING|CANCELLED)$/), cancelRequested: true });
    const cancelled = await waitForStatus(t.db, running.id, 'CANCELLED', 10_000);
    expect(cancelled.error).toBe('cancelled on request');
    expect(aborted).toHaveLength(1);
    expect(isRunAborted(aborted[0])).toBe(true);
    expect((aborted[0] as { abortCause: string }).abortCause).toBe('cancelled');

    // Cancelling a finished run changes nothing; an unknown run is null.
    expect((await store.cancel(running.id, 'again'))!.error).toBe('cancelled on request');
    expect(await store.cancel(999_999, 'nope')).toBeNull();
  });

  it('stops gracefully: finishes within the grace period, otherwise releases the lease for another replica', async () => {
    const release = latch();
    const first = await pool.start({
      db: t.db,
      concurrency: 2,
      handlers: everyTask(async (run, ctx) => {
        if (run.name === 'quick') {
          await release.promise;
          return { rowsWritten: 1 };
        }
        await abortableSleep(60_000, ctx.signal);
        return {};
      }),
    });
    const quick = (await store.create(feature('quick'))).run;
    const slow = (await store.create(feature('slow'))).run;
    await waitForStatus(t.db, quick.id, 'RUNNING');
    await waitForStatus(t.db, slow.id, 'RUNNING');
    const stopping = first.stop({ graceMs: 1_000 });
    release.release();
    await stopping;
    expect(await waitForStatus(t.db, quick.id, 'READY', 1)).toMatchObject({ attempts: 1 });
    const released = (await store.get(slow.id))!;
    expect(released).toMatchObject({ status: 'PENDING', attempts: 0, leaseOwner: null });
    // Interrupted mid-task, or (when the claim's answer arrived after stop() began) handed back before it started.
    expect(released.logs.at(-1)?.message).toMatch(/(interrupted after .*|not started: .*)is stopping; lease released$/);

    const second = await pool.start({ db: await t.connect(), handlers: everyTask(async () => ({ rowsWritten: 2 })) });
    await waitForStatus(t.db, slow.id, 'READY');
    expect((await store.get(slow.id))!).toMatchObject({ attempts: 1, rowsWritten: 2, leaseOwner: expect.stringContaining(second.id) });
  });

  it('hands back, with a log line, a run whose claim answered after stop() began', async () => {
    let executed = 0;
    const coordinator = await pool.start({ db: t.db, handlers: everyTask(async () => { executed++; return {}; }) });
    const claimedAnswer = latch();
    const claim = coordinator.store.claim.bind(coordinator.store);
    coordinator.store.claim = async (...args: Parameters<typeof claim>) => {
      const lease = await claim(...args);
      if (lease && lease !== 'contended') await claimedAnswer.promise; // the run is RUNNING in the database, the worker not told yet
      return lease;
    };
    const run = (await store.create(feature('late-claim'))).run;
    await waitForStatus(t.db, run.id, 'RUNNING');
    const stopping = coordinator.stop({ graceMs: 1_000 });
    claimedAnswer.release();
    await stopping;
    const released = (await store.get(run.id))!;
    expect(executed).toBe(0);
    expect(released).toMatchObject({ status: 'PENDING', attempts: 0, leaseOwner: null });
    expect(released.logs.at(-1)?.message).toMatch(/^attempt 1 not started: coordinator .* is stopping; lease released$/);
  });

  it('executes one run of a key at a time under 100 concurrent triggers from several replicas', async () => {
    let active = 0;
    let maxActive = 0;
    const executions = new Map<number, number>();
    const handler: TaskHandler = async (run) => {
      executions.set(run.id, (executions.get(run.id) ?? 0) + 1);
      active++;
      maxActive = Math.max(maxActive, active);
      await new Promise((r) => setTimeout(r, 5));
      active--;
      return {};
    };
    // Replicas on Postgres; PGlite is embedded in one process, so one coordinator with several workers there.
    const replicas = flavour === 'postgres' ? 3 : 1;
    for (let i = 0; i < replicas; i++) await pool.start({ db: await t.connect(), concurrency: 4, leaseMs: 10_000, heartbeatMs: 500, handlers: everyTask(handler) });
    const results = await Promise.all(
      Array.from({ length: 100 }, (_, i) => store.create({ ...feature('hot'), params: i % 2 === 0 ? {} : { batch: i } })),
    );
    const ids = [...new Set(results.map((r) => r.run.id))];
    expect(ids.length).toBeGreaterThanOrEqual(50);
    expect(results.filter((r) => r.coalesced).length).toBe(100 - ids.length);
    await waitFor('all triggered runs to finish', async () => {
      const { rows } = await t.db.query<{ open: string | number }>(`select count(*) as open from runs where name = 'hot' and status <> 'READY'`);
      return Number(rows[0]!.open) === 0;
    }, 30_000);
    expect(maxActive).toBe(1);
    expect([...executions.keys()].sort((a, b) => a - b)).toEqual(ids.sort((a, b) => a - b));
    expect([...executions.values()].every((n) => n === 1)).toBe(true);
  });
});
