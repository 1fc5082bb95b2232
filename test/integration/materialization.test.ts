import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunWithLogs } from '../../src/coordinator/run-types.js';
import type { OnlineStore } from '../../src/spi/online-store.js';
import { openTestTrellis, type RegistryFlavour, type TestTrellis } from '../support/trellis-harness.js';
import { Redis } from 'ioredis';
import { clearRedisPrefix, createRedisPrefix, createTestDatabase, redisUrl, uniqueId, type TestDatabase } from '../support/services.js';

type Json = Record<string, any>;

const DAY = 86_400_000;
const WINDOW = 3 * DAY;

/** One warehouse row: several per user, distinct event times per user (no tie-break involved). */
interface Txn {
  user_id: string;
  amount: number | null;
  ts: Date;
}

/** Deterministic pseudo-random data (amounts are multiples of 0.25, so float sums are exact). */
function makeRows(count: number, users: number, nowMs: number, seed: number): Txn[] {
  let state = seed;
  const next = () => (state = (state * 1_103_515_245 + 12_345) % 2_147_483_648) / 2_147_483_648;
  const rows: Txn[] = [];
  for (let i = 0; i < count; i++) {
    const user = `u${String(Math.floor(next() * users)).padStart(4, '0')}`;
    // Up to 10 days back; the i ms offset keeps event times distinct.
    const ts = new Date(nowMs - Math.floor(next() * 10 * DAY) - (i % 1000));
    rows.push({ user_id: user, amount: next() < 0.05 ? null : Math.round(next() * 4000) / 4, ts });
  }
  return rows;
}

/** The oracle, from the loaded rows: latest value per user and the 3-day window count/sum, as of `asOf`. */
function oracle(rows: readonly Txn[], asOf: number) {
  const latest = new Map<string, Txn>();
  const count = new Map<string, number>();
  const sum = new Map<string, number | null>();
  for (const r of rows) {
    const t = r.ts.getTime();
    if (t > asOf) continue;
    const seen = latest.get(r.user_id);
    if (!seen || seen.ts.getTime() < t) latest.set(r.user_id, r);
    if (!count.has(r.user_id)) {
      count.set(r.user_id, 0);
      sum.set(r.user_id, null);
    }
    if (t > asOf - WINDOW) {
      count.set(r.user_id, count.get(r.user_id)! + 1);
      if (r.amount !== null) sum.set(r.user_id, (sum.get(r.user_id) ?? 0) + r.amount);
    }
  }
  return { latest, count, sum };
}

interface Setup {
  readonly registry: RegistryFlavour;
  readonly offline: () => Promise<{ provider: Json; cleanup: () => Promise<void> }>;
  readonly online: () => Json;
}

const setups: [string, Setup][] = [
  [
    'DuckDB → embedded',
    {
      registry: 'pglite',
      offline: async () => ({ provider: { kind: 'provider', name: 'wh', type: 'duckdb', roles: ['offline'], config: { path: 'wh.duckdb' } }, cleanup: async () => {} }),
      online: () => ({ kind: 'provider', name: 'kv', type: 'embedded', roles: ['online'] }),
    },
  ],
  [
    'Postgres → Redis',
    {
      registry: 'postgres',
      offline: async () => {
        const db: TestDatabase = await createTestDatabase('wh');
        const env = `TRELLIS_T_WH_${uniqueId(4).toUpperCase()}`;
        process.env[env] = db.url;
        return {
          provider: { kind: 'provider', name: 'wh', type: 'postgres', roles: ['offline'], config: { connectionString: `env:${env}` } },
          cleanup: async () => {
            delete process.env[env];
            await db.drop();
          },
        };
      },
      online: () => ({ kind: 'provider', name: 'kv', type: 'redis', roles: ['online'], config: { url: redisUrl(), keyPrefix: redisPrefix } }),
    },
  ],
];

const USERS = 300;
const redisPrefix = createRedisPrefix('mat');

describe.each(setups)('materialization %s', (_label, setup) => {
  let t: TestTrellis;
  let online: OnlineStore;
  let cleanup = async () => {};
  const rows: Txn[] = makeRows(3_000, USERS, Date.now() - 60_000, 7);
  const users = [...new Set(rows.map((r) => r.user_id))].sort();

  const apply = async (resources: Json[]) => {
    const res = await t.app.inject({ method: 'POST', url: '/v1/apply', headers: t.auth, payload: { resources } });
    expect(res.statusCode, res.body).toBe(200);
  };
  const trigger = async (name: string, params: Json = {}) => {
    const res = await t.app.inject({ method: 'POST', url: `/v1/feature/${name}/default/runs`, headers: t.auth, payload: { params } });
    expect(res.statusCode, res.body).toBe(202);
    return res.json().run.id as number;
  };
  const latestRun = async (name: string) => (await t.coordinator.store.list({ kind: 'feature', name, variant: 'default', limit: 1 })).items[0]!;
  const waitFor = async (id: number, timeoutMs = 45_000): Promise<RunWithLogs> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const run = await t.coordinator.store.get(id);
      if (run && ['READY', 'FAILED', 'CANCELLED'].includes(run.status)) return run;
      if (Date.now() > deadline) throw new Error(`run ${id} still ${run?.status} after ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  const loadRows = async (batch: readonly Txn[], mode: 'create' | 'append') => {
    const store = await t.providers.offline('wh@default');
    await store.executor.loadRows(
      { name: 'txns' },
      [
        { name: 'user_id', type: 'string' },
        { name: 'amount', type: 'float64' },
        { name: 'ts', type: 'timestamp' },
      ],
      batch.map((r) => [r.user_id, r.amount, r.ts]),
      { mode },
    );
  };
  /** Online cells of every user for the three features. */
  const readAll = async () => online.read('user@default', users.map((u) => [u]), ['last_amount@default', 'cnt_3d@default', 'sum_3d@default']);
  const expectOnlineEqualsOracle = async (asOf: number) => {
    const expected = oracle(rows, asOf);
    const cells = await readAll();
    users.forEach((user, i) => {
      const [last, cnt, sum] = cells[i]!;
      const latest = expected.latest.get(user);
      expect(last, user).toEqual(latest ? { value: latest.amount, eventTs: latest.ts.getTime() } : null);
      expect(cnt?.value ?? null, user).toBe(expected.count.get(user) ?? null);
      expect(sum?.value ?? null, user).toBe(expected.sum.get(user) ?? null);
      if (cnt) expect(cnt.eventTs).toBe(asOf);
    });
  };

  beforeAll(async () => {
    t = await openTestTrellis(setup.registry);
    const offline = await setup.offline();
    cleanup = offline.cleanup;
    await apply([offline.provider, setup.online()]);
    await loadRows(rows, 'create');
    await t.providers.offline('wh@default').then((s) =>
      s.executor.loadRows({ name: 'future_txns' }, [{ name: 'user_id', type: 'string' }, { name: 'amount', type: 'float64' }, { name: 'ts', type: 'timestamp' }], [['u1', 1, new Date(Date.now() + 10 * DAY)]]),
    );
    await apply([
      { kind: 'entity', name: 'user', keys: [{ name: 'user_id', type: 'string' }] },
      { kind: 'source', name: 'txns', provider: 'wh', table: 'txns', timestampColumn: 'ts' },
      { kind: 'feature', name: 'last_amount', entity: 'user', source: 'txns', column: 'amount', valueType: 'float', onlineProvider: 'kv' },
      { kind: 'feature', name: 'cnt_3d', entity: 'user', source: 'txns', aggregation: { fn: 'count', window: '3d' }, valueType: 'int', onlineProvider: 'kv' },
      { kind: 'feature', name: 'sum_3d', entity: 'user', source: 'txns', aggregation: { fn: 'sum', column: 'amount', window: '3d' }, valueType: 'float', onlineProvider: 'kv' },
    ]);
    online = await t.providers.online('kv@default');
  });

  afterAll(async () => {
    await t?.close();
    await cleanup();
    const redis = new Redis(redisUrl());
    await clearRedisPrefix(redis, redisPrefix).finally(() => redis.disconnect());
  });

  it('materializes the latest value and the window aggregates of every entity (the oracle from the loaded rows)', async () => {
    const runs = await Promise.all(['last_amount', 'cnt_3d', 'sum_3d'].map(async (f) => waitFor((await latestRun(f)).id)));
    for (const run of runs) {
      expect(run.status, run.error ?? '').toBe('READY');
      expect(run.rowsRead).toBe(users.length);
      expect(run.rowsWritten).toBe(users.length);
    }
    // All three ran "as of" slightly different instants; check each feature against its own watermark.
    const asOf = Date.parse(runs[1]!.watermark!);
    expect(Date.parse(runs[2]!.watermark!)).toBeGreaterThan(0);
    await expectOnlineEqualsOracle(asOf);
    const sumAsOf = Date.parse(runs[2]!.watermark!);
    const expected = oracle(rows, sumAsOf);
    const cells = await online.read('user@default', users.map((u) => [u]), ['sum_3d@default']);
    users.forEach((u, i) => expect(cells[i]![0]?.value ?? null).toBe(expected.sum.get(u) ?? null));

    const served = await t.app.inject({ method: 'POST', url: '/v1/features/online', headers: t.auth, payload: { features: ['last_amount', 'cnt_3d'], entities: [{ user_id: users[0] }] } });
    expect(served.statusCode).toBe(200);
    const latest = oracle(rows, asOf).latest.get(users[0]!)!;
    expect(served.json().results[0].values[0]).toBe(latest.amount);
    expect(served.json().results[0].statuses[0]).toBe(latest.amount === null ? 'NULL_VALUE' : 'PRESENT');
  });

  it('a full re-run is idempotent', async () => {
    const before = await readAll();
    const run = await waitFor(await trigger('last_amount', { full: true }));
    expect(run.status, run.error ?? '').toBe('READY');
    expect(run.rowsRead).toBe(users.length);
    expect(await readAll()).toEqual(before);
  });

  it('a re-run as of an older time never overwrites newer values', async () => {
    const before = await readAll();
    const asOfCount = Date.parse((await latestRun('cnt_3d')).watermark!);
    const older = new Date(asOfCount - 2 * DAY).toISOString();
    const runs = await Promise.all(['last_amount', 'cnt_3d'].map(async (f) => waitFor(await trigger(f, { asOf: older, full: true }))));
    for (const run of runs) expect(run.status, run.error ?? '').toBe('READY');
    // Every aggregate write is older than what is stored: nothing written.
    expect(runs[1]!.rowsWritten).toBe(0);
    expect(runs[1]!.logs.some((l) => /kept a newer stored value/.test(l.message))).toBe(true);
    expect(await readAll()).toEqual(before);
  });

  it('an incremental run picks up new rows and recomputes the affected windows', async () => {
    const previous = await Promise.all(['last_amount', 'cnt_3d', 'sum_3d'].map((f) => latestRun(f)));
    const since = Math.max(...previous.map((r) => Date.parse(r.watermark!)));
    const now = Date.now();
    const fresh: Txn[] = users.slice(0, 20).map((u, i) => ({ user_id: u, amount: i + 0.5, ts: new Date(Math.max(since + 1 + i, now - 1000 + i)) }));
    await new Promise((r) => setTimeout(r, 30));
    await loadRows(fresh, 'append');
    rows.push(...fresh);
    const runs = await Promise.all(['last_amount', 'cnt_3d', 'sum_3d'].map(async (f) => waitFor(await trigger(f))));
    for (const run of runs) expect(run.status, run.error ?? '').toBe('READY');
    expect(runs[0]!.rowsRead).toBe(20);
    expect(runs[0]!.logs.some((l) => /incremental since/.test(l.message))).toBe(true);
    // Windows: keys with rows entering or leaving the window since the last run, never all of them blindly.
    expect(runs[1]!.rowsRead).toBeGreaterThanOrEqual(20);
    const asOf = Date.parse(runs[1]!.watermark!);
    const expected = oracle(rows, asOf);
    const cells = await readAll();
    users.forEach((user, i) => {
      const latest = oracle(rows, Date.parse(runs[0]!.watermark!)).latest.get(user);
      expect(cells[i]![0], user).toEqual(latest ? { value: latest.amount, eventTs: latest.ts.getTime() } : null);
      expect(cells[i]![1]?.value ?? null, user).toBe(expected.count.get(user) ?? null);
    });
  });

  it('a failing query ends FAILED with the engine error, and the feature says why', async () => {
    const ghost = [
      { kind: 'source', name: 'ghost', provider: 'wh', table: 'no_such_table', timestampColumn: 'ts' },
      { kind: 'feature', name: 'ghost_amount', entity: 'user', source: 'ghost', column: 'amount', valueType: 'float', onlineProvider: 'kv' },
    ];
    // Apply refuses the missing table; with the check skipped (as for a table dropped after apply) the run fails.
    const refused = await t.app.inject({ method: 'POST', url: '/v1/apply', headers: t.auth, payload: { resources: ghost } });
    expect(refused.json().error).toMatchObject({ code: 'TRELLIS_ERR_MISSING_TABLE', details: { pointer: '/resources/0/table' } });
    const skipped = await t.app.inject({ method: 'POST', url: '/v1/apply?verify=false', headers: t.auth, payload: { resources: ghost } });
    expect(skipped.statusCode, skipped.body).toBe(200);
    const run = await waitFor((await latestRun('ghost_amount')).id);
    expect(run.status).toBe('FAILED');
    expect(run.error).toMatch(/no_such_table/);
    expect(run.attempts).toBe(1); // a missing table is permanent: not retried
    const feature = await t.registry.get('feature', 'ghost_amount', 'default');
    expect(feature.status).toBe('FAILED');
    expect(feature.statusMessage).toMatch(/no_such_table/);
  });

  it('a run that reads 0 rows from a non-empty source is flagged', async () => {
    await apply([
      { kind: 'source', name: 'future', provider: 'wh', table: 'future_txns', timestampColumn: 'ts' },
      { kind: 'feature', name: 'future_amount', entity: 'user', source: 'future', column: 'amount', valueType: 'float', onlineProvider: 'kv' },
    ]);
    const run = await waitFor((await latestRun('future_amount')).id);
    expect(run.status).toBe('READY');
    expect(run.rowsRead).toBe(0);
    const flag = /read 0 rows from future@default, which has 1 rows/;
    // The flag is in the run as the API shows it, and on the feature's status (the READY outcome keeps it).
    const shown = await t.app.inject({ method: 'GET', url: `/v1/runs/${run.id}`, headers: t.auth });
    expect(shown.statusCode, shown.body).toBe(200);
    const logs = shown.json().logs as { level: string; message: string }[];
    expect(logs.some((l) => l.level === 'warn' && flag.test(l.message))).toBe(true);
    expect(logs.some((l) => l.level === 'warn' && /^READY in .* with a warning: read 0 rows/.test(l.message))).toBe(true);
    const feature = await t.app.inject({ method: 'GET', url: '/v1/feature/future_amount/default', headers: t.auth });
    expect(feature.statusCode, feature.body).toBe(200);
    expect(feature.json().resource).toMatchObject({ status: 'READY', statusMessage: expect.stringMatching(flag) });

    // A run that reads the row (as of after its event time) clears the flag.
    const later = await waitFor(await trigger('future_amount', { asOf: new Date(Date.now() + 11 * DAY).toISOString() }));
    expect(later).toMatchObject({ status: 'READY', rowsRead: 1, rowsWritten: 1 });
    expect(later.logs.some((l) => l.level === 'warn')).toBe(false);
    expect((await t.registry.get('feature', 'future_amount', 'default')).statusMessage).toBeNull();
  });

  it('a filter that matches no row of a non-empty source (asOf before every event) is flagged too', async () => {
    const before = await readAll();
    const run = await waitFor(await trigger('last_amount', { asOf: new Date(Date.now() - 30 * DAY).toISOString(), full: true }));
    expect(run).toMatchObject({ status: 'READY', rowsRead: 0 });
    const flag = new RegExp(`read 0 rows from txns@default, which has ${rows.length} rows`);
    expect(run.logs.some((l) => l.level === 'warn' && flag.test(l.message))).toBe(true);
    expect((await t.registry.get('feature', 'last_amount', 'default')).statusMessage).toMatch(flag);
    expect(await readAll()).toEqual(before);
    // A regular run clears the flag.
    const again = await waitFor(await trigger('last_amount', { full: true }));
    expect(again).toMatchObject({ status: 'READY', rowsRead: users.length });
    expect((await t.registry.get('feature', 'last_amount', 'default')).statusMessage).toBeNull();
  });
});
