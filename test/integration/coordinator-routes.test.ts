import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TaskHandler } from '../../src/coordinator/coordinator.js';
import { RunStore } from '../../src/coordinator/run-store.js';
import { RunTriggers } from '../../src/coordinator/run-triggers.js';
import { builtinAdapters } from '../../src/builtin-adapters.js';
import { readDefinitionFiles } from '../../src/registry/definition-files.js';
import { Registry } from '../../src/registry/registry.js';
import { CoordinatorPool, everyTask, waitFor } from '../support/coordinator-harness.js';
import { openTestTrellis, registryFlavours, type TestTrellis } from '../support/trellis-harness.js';

type Json = Record<string, any>;

const definitions = [
  { kind: 'provider', name: 'wh', type: 'duckdb', roles: ['offline'], config: { path: 'runs.duckdb' } },
  { kind: 'provider', name: 'kv', type: 'embedded', roles: ['online'] },
  { kind: 'entity', name: 'user', keys: [{ name: 'user_id', type: 'string' }] },
  { kind: 'source', name: 'txns', provider: 'wh', table: 'transactions', timestampColumn: 'ts' },
  { kind: 'transformation', name: 'daily', provider: 'wh', sql: 'SELECT user_id, ts, amount FROM {{ txns }}', timestampColumn: 'ts' },
  { kind: 'feature', name: 'last_amount', entity: 'user', source: 'txns', column: 'amount', valueType: 'float', onlineProvider: 'kv' },
  { kind: 'feature', name: 'daily_amount', entity: 'user', source: 'daily', column: 'amount', valueType: 'float', onlineProvider: 'kv' },
  { kind: 'feature', name: 'offline_only', entity: 'user', source: 'txns', column: 'amount', valueType: 'float' },
  { kind: 'feature', name: 'hot', entity: 'user', source: 'txns', column: 'amount', valueType: 'float', onlineProvider: 'kv' },
  { kind: 'label', name: 'fraud', entity: 'user', source: 'txns', column: 'is_fraud', valueType: 'bool' },
  { kind: 'training_set', name: 'fraud_set', label: 'fraud', features: ['last_amount', 'daily_amount'] },
];

describe.each(registryFlavours)('run routes on %s', (flavour) => {
  let t: TestTrellis;
  let store: RunStore;
  const pool = new CoordinatorPool();
  const trigger = (path: string, payload?: Json, headers: Json = t.auth) =>
    t.app.inject({ method: 'POST', url: `/v1/${path}/runs`, headers, ...(payload ? { payload } : {}) });
  const get = (url: string, headers: Json = t.auth) => t.app.inject({ method: 'GET', url, headers });

  beforeAll(async () => {
    // No coordinator in this process, and the definitions go in through a registry without the apply hook,
    // so the only runs are the ones these tests trigger.
    // About runs: the warehouse files are never seeded, so apply-time source checks are off.
    t = await openTestTrellis(flavour, { coordinator: { enabled: false } }, { verifySources: false });
    store = new RunStore(t.db);
    await new Registry(t.db, { providerTypes: builtinAdapters().providerTypes() }).apply(definitions, { actor: 'test' });
  });
  afterAll(async () => {
    await pool.stopAll();
    await t?.close();
  });

  it('queues a run, coalesces a repeated trigger into it, and queues a separate one for other params', async () => {
    const first = await trigger('feature/last_amount/default');
    expect(first.statusCode).toBe(202);
    expect(first.json()).toMatchObject({
      coalesced: false,
      run: { kind: 'feature', name: 'last_amount', variant: 'default', task: 'materialization', status: 'PENDING', triggeredBy: 'api', dependsOn: [], attempts: 0 },
    });
    const again = await trigger('feature/last_amount/default', {});
    expect(again.json()).toMatchObject({ coalesced: true, run: { id: first.json().run.id } });
    const full = await trigger('feature/last_amount/default', { params: { full: true }, maxAttempts: 5 });
    expect(full.json()).toMatchObject({ coalesced: false, run: { params: { full: true }, maxAttempts: 5 } });
    expect(full.json().run.id).not.toBe(first.json().run.id);
  });

  it('makes a run wait for the unfinished runs of the transformations it reads', async () => {
    const transformation = (await trigger('transformation/daily/default')).json().run;
    expect(transformation).toMatchObject({ task: 'transformation', status: 'PENDING' });
    const materialization = (await trigger('feature/daily_amount/default')).json().run;
    expect(materialization).toMatchObject({ status: 'CREATED', dependsOn: [transformation.id] });
    const build = (await trigger('training_set/fraud_set/default')).json().run;
    expect(build).toMatchObject({ task: 'training_set', status: 'CREATED', dependsOn: [transformation.id] });

    // Cancelling the transformation cancels both, with the reason.
    const cancel = await t.app.inject({ method: 'POST', url: `/v1/runs/${transformation.id}/cancel`, headers: t.auth, payload: { reason: 'bad deploy' } });
    expect(cancel.statusCode).toBe(200);
    expect(cancel.json()).toMatchObject({ status: 'CANCELLED', error: expect.stringMatching(/^cancelled by key:\w+: bad deploy$/) });
    for (const id of [materialization.id, build.id]) {
      const run = (await get(`/v1/runs/${id}`)).json();
      expect(run.status).toBe('CANCELLED');
      expect(run.error).toContain(`upstream run #${transformation.id} (transformation of transformation daily@default) was cancelled`);
    }
    // Cancelling again is a no-op.
    expect((await t.app.inject({ method: 'POST', url: `/v1/runs/${transformation.id}/cancel`, headers: t.auth })).json().status).toBe('CANCELLED');
  });

  it('answers 404 for unknown resources and runs, 400 for what cannot run', async () => {
    const unknown = await trigger('feature/nope/default');
    expect(unknown.statusCode).toBe(404);
    expect(unknown.json().error.code).toBe('TRELLIS_ERR_NOT_FOUND');
    expect((await trigger('transformation/last_amount/default')).statusCode).toBe(404);
    const offline = await trigger('feature/offline_only/default');
    expect(offline.statusCode).toBe(400);
    expect(offline.json().error.message).toContain('has no onlineProvider');
    expect((await trigger('entity/user/default')).statusCode).toBe(400);
    expect((await trigger('feature/last_amount/default', { params: { a: 1 }, colour: 'red' })).statusCode).toBe(400);
    expect((await get('/v1/runs/987654')).statusCode).toBe(404);
    expect((await t.app.inject({ method: 'POST', url: '/v1/runs/987654/cancel', headers: t.auth })).statusCode).toBe(404);
    expect((await get('/v1/runs/abc')).statusCode).toBe(400);
  });

  it('needs write scope to trigger or cancel, read scope to list', async () => {
    const { key: readKey } = await t.keys.create({ name: 'reader', scopes: ['read'] });
    const { key: scopedKey } = await t.keys.create({ name: 'scoped', scopes: ['write'], patterns: ['daily*'] });
    const reader = { authorization: `Bearer ${readKey}` };
    expect((await trigger('feature/last_amount/default', undefined, {})).statusCode).toBe(401);
    expect((await trigger('feature/last_amount/default', undefined, reader)).statusCode).toBe(403);
    expect((await trigger('feature/last_amount/default', undefined, { authorization: `Bearer ${scopedKey}` })).statusCode).toBe(403);
    expect((await trigger('feature/daily_amount/default', undefined, { authorization: `Bearer ${scopedKey}` })).statusCode).toBe(202);
    expect((await get('/v1/runs', reader)).statusCode).toBe(200);
    expect((await get('/v1/runs', {})).statusCode).toBe(401);
  });

  it('lists runs newest first with filters and cursor paging, and shows one with its logs', async () => {
    const all = (await get('/v1/runs?kind=feature&name=last_amount')).json();
    expect(all.items.length).toBeGreaterThanOrEqual(2);
    expect(all.items.every((r: Json) => r.name === 'last_amount')).toBe(true);
    const ids = all.items.map((r: Json) => r.id);
    expect(ids).toEqual([...ids].sort((a: number, b: number) => b - a));

    const page1 = (await get('/v1/runs?kind=feature&name=last_amount&limit=1')).json();
    expect(page1.items).toHaveLength(1);
    expect(page1.nextCursor).toEqual(expect.any(String));
    const page2 = (await get(`/v1/runs?kind=feature&name=last_amount&limit=1&cursor=${page1.nextCursor}`)).json();
    expect(page2.items[0].id).toBe(ids[1]);
    expect((await get('/v1/runs?cursor=garbage')).statusCode).toBe(400);

    const cancelled = (await get('/v1/runs?status=CANCELLED')).json().items;
    expect(cancelled.length).toBeGreaterThanOrEqual(3);
    expect(cancelled.every((r: Json) => r.status === 'CANCELLED')).toBe(true);
    expect((await get('/v1/runs?status=DONE')).statusCode).toBe(400);
    expect((await get('/v1/runs?task=training_set')).json().items.every((r: Json) => r.task === 'training_set')).toBe(true);

    const one = await get(`/v1/runs/${cancelled[0].id}`);
    expect(one.statusCode).toBe(200);
    expect(one.json().logs).toEqual(expect.any(Array));
  });

  it('creates the initial runs of an apply in dependency order', async () => {
    const { resources } = await readDefinitionFiles('definitions/examples');
    const triggers = new RunTriggers(t.registry, store);
    const plan = await t.registry.apply(resources, { actor: 'test' });
    const runs = await triggers.onApplied(plan);
    const byName = new Map(runs.map((r) => [r.name, r]));
    expect(runs.map((r) => `${r.task}:${r.name}`).sort()).toEqual([
      'materialization:merchant_avg_amount_1d',
      'materialization:user_amount_sum_7d',
      'materialization:user_last_amount',
      'materialization:user_txn_count_7d',
      'training_set:fraud_training',
      'transformation:merchant_daily',
    ]);
    expect(runs[0]!.name).toBe('merchant_daily');
    expect(byName.get('merchant_avg_amount_1d')).toMatchObject({ status: 'CREATED', dependsOn: [byName.get('merchant_daily')!.id], triggeredBy: 'apply' });
    expect(byName.get('user_last_amount')).toMatchObject({ status: 'PENDING', dependsOn: [] });
    expect(byName.get('fraud_training')).toMatchObject({ status: 'PENDING', dependsOn: [] });

    // Re-applying the same definitions creates nothing; a dry run neither.
    expect(await triggers.onApplied(await t.registry.apply(resources, { actor: 'test' }))).toEqual([]);
    expect(await triggers.onApplied(await t.registry.apply(resources, { actor: 'test', dryRun: true }))).toEqual([]);
  });

  it('executes one run at a time under 100 concurrent API triggers, each run exactly once', async () => {
    let active = 0;
    let maxActive = 0;
    const executions = new Map<number, number>();
    const handler: TaskHandler = async (run) => {
      if (run.name !== 'hot') return {};
      executions.set(run.id, (executions.get(run.id) ?? 0) + 1);
      active++;
      maxActive = Math.max(maxActive, active);
      await new Promise((r) => setTimeout(r, 5));
      active--;
      return { rowsWritten: 1 };
    };
    // Replicas on Postgres; PGlite is embedded in one process, so one coordinator with several workers.
    // A generous lease: PGlite runs on this thread, and a long queue of queries can starve timers (heartbeats).
    const replicas = flavour === 'postgres' ? 3 : 1;
    for (let i = 0; i < replicas; i++) {
      await pool.start({ db: t.db, registry: t.registry, schedules: false, concurrency: 4, leaseMs: 10_000, heartbeatMs: 500, handlers: everyTask(handler) });
    }
    const responses = await Promise.all(Array.from({ length: 100 }, (_, i) => trigger('feature/hot/default', i % 2 === 0 ? undefined : { params: { batch: i } })));
    expect(responses.every((r) => r.statusCode === 202)).toBe(true);
    const bodies = responses.map((r) => r.json() as { run: { id: number }; coalesced: boolean });
    const ids = [...new Set(bodies.map((b) => b.run.id))].sort((a, b) => a - b);
    expect(ids.length).toBeGreaterThanOrEqual(50);
    expect(bodies.filter((b) => b.coalesced)).toHaveLength(100 - ids.length);
    await waitFor('every hot run to be READY', async () => (await store.list({ name: 'hot', limit: 500 })).items.every((r) => r.status === 'READY'), 60_000);
    expect(maxActive).toBe(1);
    expect([...executions.keys()].sort((a, b) => a - b)).toEqual(ids);
    expect([...executions.values()].every((n) => n === 1)).toBe(true);
    // The resource's status follows its runs.
    expect((await t.registry.get('feature', 'hot', 'default')).status).toBe('READY');
  });
});
