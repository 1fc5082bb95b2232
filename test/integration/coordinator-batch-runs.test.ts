/**
 * Batch run creation (RunStore.createMany, used by RunTriggers.onApplied): for any queue state — upstream runs in
 * every status, queued runs to join, unknown upstream ids — creating a batch gives the same runs, statuses,
 * upstream lists, coalescing and cancellations as creating the same inputs one by one (the oracle: create()).
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { builtinAdapters } from '../../src/builtin-adapters.js';
import { RunStore, type CreateRunInput, type CreateRunResult } from '../../src/coordinator/run-store.js';
import { RunTriggers } from '../../src/coordinator/run-triggers.js';
import { Registry } from '../../src/registry/registry.js';
import type { RunKey, RunStatus } from '../../src/coordinator/run-types.js';
import { flavours, openCoordinatorDatabase, type CoordinatorTestDatabase } from '../support/coordinator-harness.js';

const NAMES = ['a', 'b', 'c', 'd', 'e', 'f'];
const key = (name: string, task: RunKey['task'] = 'materialization'): RunKey => ({ kind: task === 'transformation' ? 'transformation' : 'feature', name, variant: 'default', task });

/** Existing runs: upstream transformations in a given status, and queued feature runs a new one may join. */
interface Scenario {
  readonly upstream: RunStatus[];
  readonly queued: { name: string; status: 'CREATED' | 'PENDING'; params: number; dependsOn: number[] }[];
  readonly inputs: { name: string; params: number; dependsOn: number[]; coalesce: boolean; unknownUpstream: boolean }[];
}

const scenarios = fc.record({
  upstream: fc.array(fc.constantFrom<RunStatus>('CREATED', 'PENDING', 'RUNNING', 'READY', 'FAILED', 'CANCELLED'), { minLength: 1, maxLength: 5 }),
  queued: fc.uniqueArray(
    fc.record({ name: fc.constantFrom(...NAMES), status: fc.constantFrom<'CREATED' | 'PENDING'>('CREATED', 'PENDING'), params: fc.integer({ min: 0, max: 1 }), dependsOn: fc.array(fc.nat(4), { maxLength: 2 }) }),
    { selector: (q) => q.name, maxLength: 4 },
  ),
  inputs: fc.uniqueArray(
    fc.record({
      name: fc.constantFrom(...NAMES),
      params: fc.integer({ min: 0, max: 1 }),
      dependsOn: fc.array(fc.nat(4), { maxLength: 3 }),
      coalesce: fc.boolean(),
      unknownUpstream: fc.integer({ min: 0, max: 9 }).map((n) => n === 0),
    }),
    { selector: (i) => i.name, minLength: 1, maxLength: NAMES.length },
  ),
}) as fc.Arbitrary<Scenario>;

describe.each(flavours)('RunStore.createMany on %s', (flavour) => {
  let t: CoordinatorTestDatabase;
  let store: RunStore;

  beforeAll(async () => {
    t = await openCoordinatorDatabase(flavour, 'coord_batch');
    store = new RunStore(t.db);
  });
  afterAll(async () => {
    await t?.close();
  });

  /** Builds the scenario's queue from scratch; returns the ids of its upstream runs. */
  async function seed(s: Scenario): Promise<number[]> {
    await t.db.query('truncate runs restart identity cascade');
    const ids: number[] = [];
    for (const [i, status] of s.upstream.entries()) {
      const { rows } = await t.db.query<{ id: string }>(
        `insert into runs (kind, name, variant, task, status) values ('transformation', $1, 'default', 'transformation', $2) returning id`,
        [`up${i}`, status === 'CREATED' ? 'CREATED' : 'PENDING'],
      );
      const id = Number(rows[0]!.id);
      // Walk the legal transitions (the status guard refuses shortcuts).
      const path: Record<RunStatus, RunStatus[]> = {
        CREATED: [],
        PENDING: [],
        RUNNING: ['RUNNING'],
        READY: ['RUNNING', 'READY'],
        FAILED: ['RUNNING', 'FAILED'],
        CANCELLED: ['CANCELLED'],
      };
      for (const next of path[status]) {
        await t.db.query(`update runs set status = $2, attempts = attempts + (case when $2 = 'RUNNING' then 1 else 0 end) where id = $1`, [id, next]);
      }
      ids.push(id);
    }
    for (const q of s.queued) {
      const deps = [...new Set(q.dependsOn.map((d) => ids[d % ids.length]!))];
      await t.db.query(`insert into runs (kind, name, variant, task, status, depends_on, params) values ('feature', $1, 'default', 'materialization', $2, $3::bigint[], $4::jsonb)`, [
        q.name,
        q.status,
        deps,
        JSON.stringify({ p: q.params }),
      ]);
    }
    return ids;
  }

  function inputsOf(s: Scenario, ids: readonly number[]): CreateRunInput[] {
    return s.inputs.map((input) => ({
      ...key(input.name),
      dependsOn: [...input.dependsOn.map((d) => ids[d % ids.length]!), ...(input.unknownUpstream ? [999_999] : [])],
      params: { p: input.params },
      coalesce: input.coalesce,
      triggeredBy: 'apply',
      maxAttempts: 4,
    }));
  }

  /** What a result means, independent of the ids new runs got: pre-existing runs by id, new ones as "new". */
  function normalize(results: readonly (CreateRunResult | { error: string })[], existing: number): unknown[] {
    return results.map((r) => {
      if ('error' in r) return r;
      const { run, coalesced } = r;
      return {
        coalesced,
        id: run.id <= existing ? run.id : 'new',
        name: run.name,
        status: run.status,
        dependsOn: run.dependsOn,
        params: run.params,
        maxAttempts: run.maxAttempts,
        triggeredBy: run.triggeredBy,
        error: run.error,
      };
    });
  }

  async function runScenario(s: Scenario, batch: boolean): Promise<{ results: unknown[]; queue: unknown[] }> {
    const ids = await seed(s);
    const existing = Number((await t.db.query<{ n: string }>('select count(*) as n from runs')).rows[0]!.n);
    const inputs = inputsOf(s, ids);
    let results: (CreateRunResult | { error: string })[];
    try {
      results = await t.db.transaction(async (tx) => {
        if (batch) return store.createMany(inputs, tx);
        const out: CreateRunResult[] = [];
        for (const input of inputs) out.push(await store.create(input, tx));
        return out;
      });
    } catch (error) {
      results = [{ error: (error as Error).message }];
    }
    const { rows } = await t.db.query<{ name: string; status: string; depends_on: unknown; params: unknown; cancelled: boolean }>(
      `select name, status, depends_on, params, error is not null as cancelled from runs order by name, status, params::text, depends_on::text, cancelled`,
    );
    return { results: normalize(results, existing), queue: rows.map((r) => ({ ...r, depends_on: (r.depends_on as (string | number)[]).map(Number) })) };
  }

  it('equals create() one by one for random queue states (property, brute-force oracle)', async () => {
    await fc.assert(
      fc.asyncProperty(scenarios, async (s) => {
        const oneByOne = await runScenario(s, false);
        const batched = await runScenario(s, true);
        expect(batched).toEqual(oneByOne);
      }),
      { numRuns: flavour === 'pglite' ? 40 : 25 },
    );
  }, 120_000);

  it('onApplied: every new runnable resource gets a run waiting for the transformations it reads, directly or through its features', async () => {
    await t.db.query('truncate runs restart identity cascade');
    const registry = new Registry(t.db, { providerTypes: builtinAdapters().providerTypes() });
    const triggers = new RunTriggers(registry, store);
    const plan = await registry.apply(
      [
        { kind: 'provider', name: 'wh', type: 'duckdb', roles: ['offline'], config: { path: 'batch.duckdb' } },
        { kind: 'provider', name: 'kv', type: 'embedded', roles: ['online'] },
        { kind: 'entity', name: 'user', keys: [{ name: 'user_id', type: 'string' }] },
        { kind: 'source', name: 'txns', provider: 'wh', table: 'transactions', timestampColumn: 'ts' },
        { kind: 'transformation', name: 'daily', provider: 'wh', sql: `SELECT user_id, ts, amount FROM {{ txns }}`, timestampColumn: 'ts' },
        { kind: 'transformation', name: 'weekly', provider: 'wh', sql: `SELECT user_id, ts, amount FROM {{ daily }}`, timestampColumn: 'ts' },
        { kind: 'feature', name: 'last_amount', entity: 'user', source: 'txns', column: 'amount', valueType: 'float', onlineProvider: 'kv' },
        { kind: 'feature', name: 'weekly_amount', entity: 'user', source: 'weekly', column: 'amount', valueType: 'float', onlineProvider: 'kv' },
        { kind: 'feature', name: 'offline_only', entity: 'user', source: 'txns', column: 'amount', valueType: 'float' },
        { kind: 'label', name: 'fraud', entity: 'user', source: 'daily', column: 'is_fraud', valueType: 'bool' },
        { kind: 'training_set', name: 'fraud_set', label: 'fraud', features: ['last_amount', 'weekly_amount'] },
      ],
      { actor: 'test' },
    );
    const runs = await triggers.onApplied(plan);
    const byName = new Map(runs.map((r) => [r.name, r]));
    // Transformations first (each after the ones it reads), then materializations, then training sets.
    expect(runs.map((r) => `${r.task}:${r.name}`)).toEqual([
      'transformation:daily',
      'transformation:weekly',
      'materialization:last_amount',
      'materialization:weekly_amount',
      'training_set:fraud_set',
    ]);
    const id = (name: string) => byName.get(name)!.id;
    expect(byName.get('daily')).toMatchObject({ status: 'PENDING', dependsOn: [] });
    expect(byName.get('weekly')).toMatchObject({ status: 'CREATED', dependsOn: [id('daily')] });
    expect(byName.get('last_amount')).toMatchObject({ status: 'PENDING', dependsOn: [], triggeredBy: 'apply', maxAttempts: 3 });
    expect(byName.get('weekly_amount')).toMatchObject({ status: 'CREATED', dependsOn: [id('weekly')] });
    // The training set reads its label's transformation (daily) and its features' (weekly).
    expect(byName.get('fraud_set')).toMatchObject({ status: 'CREATED', dependsOn: [id('daily'), id('weekly')].sort((a, b) => a - b) });
    expect(await store.get(id('fraud_set'))).toMatchObject({ id: id('fraud_set'), status: 'CREATED' });
  });

  it('inserts a large batch with one statement and returns runs in input order', async () => {
    await t.db.query('truncate runs restart identity cascade');
    const inputs = Array.from({ length: 500 }, (_, i) => ({ ...key(`f${String(i).padStart(3, '0')}`), triggeredBy: 'apply' as const }));
    const results = await t.db.transaction((tx) => store.createMany(inputs, tx));
    expect(results.map((r) => r.run.name)).toEqual(inputs.map((i) => i.name));
    expect(results.every((r) => r.run.status === 'PENDING' && !r.coalesced)).toBe(true);
    expect(new Set(results.map((r) => r.run.id)).size).toBe(500);
    await expect(t.db.transaction((tx) => store.createMany([inputs[0]!, inputs[0]!], tx))).rejects.toThrow(/distinct run keys/);
  });
});
