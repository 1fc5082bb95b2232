import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunWithLogs } from '../../src/coordinator/run-types.js';
import { onlineValueStatus } from '../../src/spi/online-store.js';
import { openTestTrellis, type TestTrellis } from '../support/trellis-harness.js';

/**
 * Issue 5's consistency contract: on random data, the value served online for (entity, now) equals the value the
 * training set gives for (entity, now), per feature. "now" is each materialization's watermark (the instant it
 * computed as of): label rows are placed exactly there, and the online status is evaluated there too (ttl).
 * The data has ties on event time (broken by created time, and full ties left to the final tie-break), nulls,
 * rows older than the ttl, rows leaving the windows and rows after "now".
 */
type Json = Record<string, any>;

const MINUTE = 60_000;
const USERS = ['a', 'b', 'c', 'd', 'e', 'f']; // 'f' never gets rows: NOT_FOUND online, null/0 offline

const rowArb = fc.record({
  user: fc.integer({ min: 0, max: USERS.length - 2 }),
  // Minutes around "now": from ~5 days back to 3 hours ahead; coarse, so event-time ties are common.
  minutes: fc.integer({ min: -7_200, max: 180 }),
  createdLag: fc.integer({ min: 0, max: 2 }),
  amount: fc.option(fc.integer({ min: -400, max: 4000 }).map((n) => n / 4), { freq: 6 }),
  country: fc.option(fc.constantFrom('NL', 'DE', 'FR'), { freq: 5 }),
});

const FEATURES = [
  { key: 'amt', def: { column: 'amount', valueType: 'float', ttl: '1d' }, ttlSeconds: 86_400 },
  { key: 'cty', def: { column: 'country', valueType: 'string' }, ttlSeconds: undefined },
  { key: 'cnt', def: { aggregation: { fn: 'count', window: '2d' }, valueType: 'int' }, ttlSeconds: undefined },
  { key: 'sum', def: { aggregation: { fn: 'sum', column: 'amount', window: '2d' }, valueType: 'float' }, ttlSeconds: undefined },
  { key: 'max', def: { aggregation: { fn: 'max', column: 'amount', window: '1d' }, valueType: 'float' }, ttlSeconds: undefined },
] as const;

describe('online/offline consistency (DuckDB → embedded)', () => {
  let t: TestTrellis;
  let iteration = 0;

  const apply = async (resources: Json[]) => {
    const res = await t.app.inject({ method: 'POST', url: '/v1/apply', headers: t.auth, payload: { resources } });
    expect(res.statusCode, res.body).toBe(200);
  };
  const waitForLatest = async (kind: 'feature' | 'training_set', name: string): Promise<RunWithLogs> => {
    const deadline = Date.now() + 60_000;
    for (;;) {
      const [latest] = (await t.coordinator.store.list({ kind, name, variant: 'default', limit: 1 })).items;
      const run = latest && (await t.coordinator.store.get(latest.id));
      if (run && ['READY', 'FAILED', 'CANCELLED'].includes(run.status)) {
        expect(run.status, `${name}: ${run.error}`).toBe('READY');
        return run;
      }
      if (Date.now() > deadline) throw new Error(`${kind} ${name} not done`);
      await new Promise((r) => setTimeout(r, 100));
    }
  };

  beforeAll(async () => {
    t = await openTestTrellis('pglite');
    await apply([
      { kind: 'provider', name: 'wh', type: 'duckdb', roles: ['offline'], config: { path: 'wh.duckdb' } },
      { kind: 'provider', name: 'kv', type: 'embedded', roles: ['online'] },
      { kind: 'entity', name: 'user', keys: [{ name: 'user_id', type: 'string' }] },
    ]);
  });
  afterAll(async () => t?.close());

  it('serves, for every entity and feature, the value the training set gives at the same instant', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(rowArb, { minLength: 1, maxLength: 60 }), async (generated) => {
        const i = iteration++;
        const wh = await t.providers.offline('wh@default');
        const base = Math.floor(Date.now() / MINUTE) * MINUTE;
        await wh.executor.loadRows(
          { name: `ev_${i}` },
          [
            { name: 'user_id', type: 'string' },
            { name: 'amount', type: 'float64' },
            { name: 'country', type: 'string' },
            { name: 'ts', type: 'timestamp' },
            { name: 'created_ts', type: 'timestamp' },
          ],
          generated.map((r) => [USERS[r.user]!, r.amount, r.country, new Date(base + r.minutes * MINUTE), new Date(base + (r.minutes + r.createdLag) * MINUTE)]),
        );
        const name = (f: string) => `${f}_${i}`;
        await apply([
          { kind: 'source', name: `ev_${i}`, provider: 'wh', table: `ev_${i}`, timestampColumn: 'ts', createdTimestampColumn: 'created_ts' },
          ...FEATURES.map((f) => ({ kind: 'feature', name: name(f.key), entity: 'user', source: `ev_${i}`, onlineProvider: 'kv', ...f.def })),
        ]);
        const watermarks = new Map<string, number>();
        for (const f of FEATURES) watermarks.set(f.key, Date.parse((await waitForLatest('feature', name(f.key))).watermark!));

        // The spine: every user at every feature's "now".
        const spine = [...new Set(watermarks.values())].flatMap((w) => USERS.map((u) => [u, new Date(w), 1] as const));
        await wh.executor.loadRows({ name: `lab_${i}` }, [{ name: 'user_id', type: 'string' }, { name: 'label_ts', type: 'timestamp' }, { name: 'y', type: 'int64' }], spine);
        await apply([
          { kind: 'source', name: `lab_${i}`, provider: 'wh', table: `lab_${i}`, timestampColumn: 'label_ts' },
          { kind: 'label', name: `y_${i}`, entity: 'user', source: `lab_${i}`, column: 'y', valueType: 'int' },
          { kind: 'training_set', name: `ts_${i}`, label: `y_${i}`, features: FEATURES.map((f) => name(f.key)) },
        ]);
        await waitForLatest('training_set', `ts_${i}`);
        const data = await t.app.inject({ method: 'GET', url: `/v1/training_set/ts_${i}/default/data?format=ndjson`, headers: t.auth });
        expect(data.statusCode, data.body).toBe(200);
        const trainingRows = data.body.trim().split('\n').map((line) => JSON.parse(line) as Json);
        expect(trainingRows).toHaveLength(spine.length);

        const online = await t.providers.online('kv@default');
        const cells = await online.read('user@default', USERS.map((u) => [u]), FEATURES.map((f) => `${name(f.key)}@default`));
        FEATURES.forEach((f, j) => {
          const now = watermarks.get(f.key)!;
          USERS.forEach((user, k) => {
            const row = trainingRows.find((r) => r.user_id === user && Date.parse(r.label_ts) === now);
            expect(row, `training row of ${user} at ${now}`).toBeDefined();
            const offline = row![`${name(f.key)}__default`] ?? null;
            const cell = cells[k]![j]!;
            const status = onlineValueStatus(cell, f.ttlSeconds, now);
            let served = status === 'PRESENT' ? cell!.value : null;
            // A key the store has never seen reads NOT_FOUND; for a count that is 0 rows.
            if (f.key === 'cnt' && status === 'NOT_FOUND') served = 0;
            expect(served, `${f.key} of ${user} at ${new Date(now).toISOString()} (status ${status})`).toEqual(offline);
          });
        });
      }),
      { numRuns: 4, endOnFailure: true },
    );
  }, 240_000);
});
