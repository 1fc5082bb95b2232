import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTestTrellis, type TestTrellis } from '../support/trellis-harness.js';

type Json = Record<string, any>;

/** Training-set builds (coordinator) and `GET /v1/training_set/{name}/{variant}/data` on DuckDB. */
describe('training sets', () => {
  let t: TestTrellis;
  const apply = async (resources: Json[]) => {
    const res = await t.app.inject({ method: 'POST', url: '/v1/apply', headers: t.auth, payload: { resources } });
    expect(res.statusCode, res.body).toBe(200);
  };
  const waitReady = async (name: string) => {
    for (const deadline = Date.now() + 30_000; Date.now() < deadline; ) {
      const [run] = (await t.coordinator.store.list({ kind: 'training_set', name, variant: 'default', limit: 1 })).items;
      if (run && ['READY', 'FAILED', 'CANCELLED'].includes(run.status)) return run;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`training set ${name} not built`);
  };

  beforeAll(async () => {
    t = await openTestTrellis('pglite');
    await apply([{ kind: 'provider', name: 'wh', type: 'duckdb', roles: ['offline'], config: { path: 'wh.duckdb' } }]);
    const wh = await t.providers.offline('wh@default');
    const cols = [{ name: 'user_id', type: 'string' }, { name: 'v', type: 'float64' }, { name: 'note', type: 'string' }, { name: 'ts', type: 'timestamp' }] as const;
    await wh.executor.loadRows({ name: 'facts' }, cols, [
      ['u1', 1.5, 'plain', new Date('2026-01-01T00:00:00Z')],
      ['u1', 2.5, 'with "quotes", commas\nand lines', new Date('2026-01-02T00:00:00Z')],
      ['u2', null, null, new Date('2026-01-01T00:00:00Z')],
    ]);
    await wh.executor.loadRows({ name: 'labels' }, [{ name: 'user_id', type: 'string' }, { name: 'ts', type: 'timestamp' }, { name: 'y', type: 'boolean' }], [
      ['u1', new Date('2026-01-01T12:00:00Z'), true],
      ['u1', new Date('2026-01-03T00:00:00Z'), false],
      ['u2', new Date('2026-01-03T00:00:00Z'), false],
      ['u3', new Date('2026-01-03T00:00:00Z'), true],
    ]);
    await apply([
      { kind: 'entity', name: 'user', keys: [{ name: 'user_id', type: 'string' }] },
      { kind: 'source', name: 'facts', provider: 'wh', table: 'facts', timestampColumn: 'ts' },
      { kind: 'source', name: 'labels', provider: 'wh', table: 'labels', timestampColumn: 'ts' },
      { kind: 'feature', name: 'v', entity: 'user', source: 'facts', column: 'v', valueType: 'float' },
      { kind: 'feature', name: 'note', entity: 'user', source: 'facts', column: 'note', valueType: 'string' },
      { kind: 'label', name: 'y', entity: 'user', source: 'labels', column: 'y', valueType: 'bool' },
      { kind: 'training_set', name: 'ts', label: 'y', features: ['v', { feature: 'note', lag: '1d' }] },
    ]);
  });
  afterAll(async () => t?.close());

  it('builds the table on apply and streams it as NDJSON, one row per label row', async () => {
    const run = await waitReady('ts');
    expect(run.status, run.error ?? '').toBe('READY');
    expect(run.rowsWritten).toBe(4);
    const res = await t.app.inject({ method: 'GET', url: '/v1/training_set/ts/default/data', headers: t.auth });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/application\/x-ndjson/);
    const rows = res.body.trim().split('\n').map((l) => JSON.parse(l) as Json);
    const key = (r: Json) => `${r.user_id}@${r.ts}`;
    expect(Object.fromEntries(rows.map((r) => [key(r), [r.v__default, r.note__default, r.y__default]]))).toEqual({
      'u1@2026-01-01T12:00:00.000Z': [1.5, null, true], // note lags 1 day: nothing yet
      'u1@2026-01-03T00:00:00.000Z': [2.5, 'with "quotes", commas\nand lines', false], // ts ≤ t − lag, inclusive
      'u2@2026-01-03T00:00:00.000Z': [null, null, false],
      'u3@2026-01-03T00:00:00.000Z': [null, null, true],
    });
  });

  it('streams CSV with a header and RFC 4180 quoting', async () => {
    await waitReady('ts');
    await apply([{ kind: 'training_set', name: 'ts_now', label: 'y', features: ['note'] }]);
    expect((await waitReady('ts_now')).status).toBe('READY');
    const res = await t.app.inject({ method: 'GET', url: '/v1/training_set/ts_now/default/data?format=csv', headers: t.auth });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/text\/csv/);
    const [header, ...lines] = res.body.split('\r\n');
    expect(header).toBe('user_id,ts,note__default,y__default');
    expect(lines.filter((l) => l.length > 0)).toHaveLength(4);
    expect(res.body).toContain('"with ""quotes"", commas\nand lines"');
  });

  it('answers 404 naming the set when it is unknown or not built yet', async () => {
    const unknown = await t.app.inject({ method: 'GET', url: '/v1/training_set/nope/default/data', headers: t.auth });
    expect(unknown.statusCode).toBe(404);
    expect(unknown.json().error.code).toBe('TRELLIS_ERR_NOT_FOUND');
    const wh = await t.providers.offline('wh@default');
    await wh.executor.dropTable({ name: 'trellis_ts__ts_now__default' });
    const unbuilt = await t.app.inject({ method: 'GET', url: '/v1/training_set/ts_now/default/data', headers: t.auth });
    expect(unbuilt.statusCode).toBe(404);
    expect(unbuilt.json().error.message).toMatch(/ts_now@default.*no READY build yet/);
  });

  it('needs a key with read scope', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/v1/training_set/ts/default/data' });
    expect(res.statusCode).toBe(401);
  });
});
