import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { builtinAdapters } from '../../src/builtin-adapters.js';
import type { CoordinatorLogger } from '../../src/coordinator/coordinator.js';
import { Registry } from '../../src/registry/registry.js';
import { CoordinatorPool, everyTask, flavours, openCoordinatorDatabase, waitFor, type CoordinatorTestDatabase } from '../support/coordinator-harness.js';

const base = [
  { kind: 'provider', name: 'wh', type: 'duckdb', roles: ['offline'], config: { path: 'cron.duckdb' } },
  { kind: 'provider', name: 'kv', type: 'embedded', roles: ['online'] },
  { kind: 'entity', name: 'user', keys: [{ name: 'user_id', type: 'string' }] },
  { kind: 'source', name: 'txns', provider: 'wh', table: 'transactions', timestampColumn: 'ts' },
];
const everySecond = '* * * * * *';

describe.each(flavours)('cron schedules on %s', (flavour) => {
  let t: CoordinatorTestDatabase;
  const pool = new CoordinatorPool();
  const registryOn = (db: CoordinatorTestDatabase['db']) => new Registry(db, { providerTypes: builtinAdapters().providerTypes() });

  beforeAll(async () => {
    t = await openCoordinatorDatabase(flavour, 'coord_cron');
  });
  afterAll(async () => {
    await pool.stopAll();
    await t?.close();
  });

  it('fires each tick on exactly one replica, and arms new schedules as soon as they are applied', async () => {
    const registry = registryOn(t.db);
    await registry.apply(
      [
        ...base,
        { kind: 'feature', name: 'ticking', entity: 'user', source: 'txns', column: 'amount', valueType: 'float', onlineProvider: 'kv', schedule: everySecond },
        // No online provider: a schedule on it has nothing to materialize and is not armed.
        { kind: 'feature', name: 'offline_ticking', entity: 'user', source: 'txns', column: 'amount', valueType: 'float', schedule: everySecond },
      ],
      { actor: 'test' },
    );
    const fired: { replica: string; name: string; tick: string }[] = [];
    const replicas = flavour === 'postgres' ? 3 : 1;
    for (let i = 0; i < replicas; i++) {
      const db = await t.connect();
      const replica = `replica-${i}`;
      const logger: CoordinatorLogger = (_level, message, fields) => {
        if (message === 'schedule fired') fired.push({ replica, name: String(fields?.name), tick: String(fields?.tick) });
      };
      const coordinator = await pool.start({ db, id: replica, registry: registryOn(db), logger, handlers: everyTask(async () => ({ rowsWritten: 1 })) });
      expect([...coordinator.scheduler!.schedules.values()]).toEqual([everySecond]);
    }

    const ticksOf = async (name: string) =>
      (await t.db.query<{ tick: Date | string; run_id: string | number | null; fired_by: string }>(
        'select tick, run_id, fired_by from run_schedule_ticks where name = $1 order by tick',
        [name],
      )).rows;
    await waitFor('three ticks of ticking', async () => (await ticksOf('ticking')).length >= 3, 15_000);

    // Applied after the coordinators started: the registry's NOTIFY re-arms the schedulers at once
    // (the periodic reload is a minute away).
    await registry.apply(
      [...base, { kind: 'transformation', name: 'late_joiner', provider: 'wh', sql: 'SELECT * FROM {{ txns }}', timestampColumn: 'ts', schedule: everySecond }],
      { actor: 'test' },
    );
    await waitFor('a tick of late_joiner', async () => (await ticksOf('late_joiner')).length >= 1, 10_000);
    await pool.stopAll();

    const ticks = await ticksOf('ticking');
    expect(ticks.every((tick) => tick.run_id !== null)).toBe(true);
    expect(ticks.every((tick) => new Date(tick.tick).getUTCMilliseconds() === 0)).toBe(true);
    // Every recorded tick was fired by exactly one replica, which logged it on the run it queued or joined.
    const tickKeys = ticks.map((tick) => new Date(tick.tick).toISOString());
    const firedTicking = fired.filter((f) => f.name === 'ticking');
    expect(firedTicking.map((f) => f.tick).sort()).toEqual([...tickKeys].sort());
    const { rows } = await t.db.query<{ message: string }>(
      `select e->>'message' as message from runs, jsonb_array_elements(logs) e where name = 'ticking' and e->>'message' like 'schedule tick %'`,
    );
    expect(rows.map((r) => r.message.split(' ')[2]).sort()).toEqual([...tickKeys].sort());
    expect((await t.db.query(`select 1 from runs where name = 'offline_ticking'`)).rows).toHaveLength(0);
    const runs = (await t.db.query<{ status: string; triggered_by: string }>(`select status, triggered_by from runs where name = 'ticking'`)).rows;
    expect(runs.length).toBeGreaterThanOrEqual(1);
    expect(runs.every((r) => r.triggered_by === 'schedule')).toBe(true);
    expect((await ticksOf('late_joiner'))[0]!.fired_by).toMatch(/^replica-\d$/);
  });
});
