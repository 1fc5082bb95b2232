/**
 * Snowflake and BigQuery as registered providers (src/builtin-adapters.ts), end to end over REST: apply a
 * provider with its config (secrets as env: references), load data through the provider pool's store, apply a
 * source, features, a label and a training set (checked against the warehouse at apply), build the training set
 * with the coordinator and read it back. Snowflake runs on fakesnow behind the arrow proxy, BigQuery on the
 * local emulator (see adapters/snowflake/README.md, adapters/bigquery/README.md).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bigQueryEmulatorUrl, createBigQueryTestTarget, createSnowflakeTestTarget } from '../support/emulators.js';
import { uniqueId } from '../support/services.js';
import { openTestTrellis, type TestTrellis } from '../support/trellis-harness.js';

type Json = Record<string, any>;

interface Target {
  readonly provider: Json;
  drop(): Promise<void>;
}

async function snowflakeTarget(): Promise<Target> {
  const target = await createSnowflakeTestTarget('providers');
  const env = `TRELLIS_TEST_SF_PASSWORD_${uniqueId(3).toUpperCase()}`;
  process.env[env] = 'trellis';
  const { account, username, accessUrl, database, schema } = target.config;
  return {
    provider: { type: 'snowflake', config: { account, username, password: `env:${env}`, accessUrl, database, schema, createDatabase: true } },
    async drop() {
      delete process.env[env];
      await target.drop();
    },
  };
}

async function bigQueryTarget(): Promise<Target> {
  const target = createBigQueryTestTarget('providers');
  return {
    provider: { type: 'bigquery', config: { projectId: target.projectId, dataset: target.dataset, apiEndpoint: bigQueryEmulatorUrl(), anonymous: true } },
    drop: () => target.drop(),
  };
}

describe.each([
  { name: 'snowflake', open: snowflakeTarget },
  { name: 'bigquery', open: bigQueryTarget },
])('$name provider through the REST API', ({ open }) => {
  let target: Target;
  let t: TestTrellis;
  const apply = (resources: Json[]) => t.app.inject({ method: 'POST', url: '/v1/apply', headers: t.auth, payload: { resources } });

  beforeAll(async () => {
    target = await open();
    t = await openTestTrellis('pglite');
    const res = await apply([{ kind: 'provider', name: 'wh', roles: ['offline'], ...target.provider }]);
    expect(res.statusCode, res.body).toBe(200);
    const wh = await t.providers.offline('wh@default');
    await wh.executor.loadRows({ name: 'facts' }, [{ name: 'user_id', type: 'string' }, { name: 'v', type: 'float64' }, { name: 'ts', type: 'timestamp' }], [
      ['u1', 1.5, new Date('2026-01-01T00:00:00Z')],
      ['u1', 2.5, new Date('2026-01-02T00:00:00Z')],
      ['u2', 7, new Date('2026-01-04T00:00:00Z')],
    ]);
    await wh.executor.loadRows({ name: 'labels' }, [{ name: 'user_id', type: 'string' }, { name: 'ts', type: 'timestamp' }, { name: 'y', type: 'boolean' }], [
      ['u1', new Date('2026-01-01T12:00:00Z'), true],
      ['u1', new Date('2026-01-03T00:00:00Z'), false],
      ['u2', new Date('2026-01-03T00:00:00Z'), false],
    ]);
  }, 120_000);
  afterAll(async () => {
    await t?.close();
    await target?.drop();
  });

  it('checks sources and columns in the warehouse at apply', async () => {
    const missingTable = await apply([{ kind: 'source', name: 'nope', provider: 'wh', table: 'no_such_facts', timestampColumn: 'ts' }]);
    expect(missingTable.statusCode, missingTable.body).toBe(400);
    expect(missingTable.json().error).toMatchObject({ code: 'TRELLIS_ERR_MISSING_TABLE', details: { pointer: '/resources/0/table' } });
    const missingColumn = await apply([
      { kind: 'entity', name: 'user', keys: [{ name: 'user_id', type: 'string' }] },
      { kind: 'source', name: 'facts', provider: 'wh', table: 'facts', timestampColumn: 'ts' },
      { kind: 'feature', name: 'v', entity: 'user', source: 'facts', column: 'value', valueType: 'float' },
    ]);
    expect(missingColumn.statusCode, missingColumn.body).toBe(400);
    expect(missingColumn.json().error).toMatchObject({ code: 'TRELLIS_ERR_MISSING_COLUMN', details: { pointer: '/resources/2/column', column: 'value' } });
  });

  it('builds a training set in the warehouse and reads it back', async () => {
    const res = await apply([
      { kind: 'entity', name: 'user', keys: [{ name: 'user_id', type: 'string' }] },
      { kind: 'source', name: 'facts', provider: 'wh', table: 'facts', timestampColumn: 'ts' },
      { kind: 'source', name: 'labels', provider: 'wh', table: 'labels', timestampColumn: 'ts' },
      { kind: 'feature', name: 'v', entity: 'user', source: 'facts', column: 'v', valueType: 'float' },
      { kind: 'label', name: 'y', entity: 'user', source: 'labels', column: 'y', valueType: 'bool' },
      { kind: 'training_set', name: 'ts', label: 'y', features: ['v'] },
    ]);
    expect(res.statusCode, res.body).toBe(200);
    let run: Json | undefined;
    for (const deadline = Date.now() + 90_000; Date.now() < deadline; ) {
      [run] = (await t.coordinator.store.list({ kind: 'training_set', name: 'ts', variant: 'default', limit: 1 })).items;
      if (run && ['READY', 'FAILED', 'CANCELLED'].includes(run.status)) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(run?.status, run?.error ?? 'not finished').toBe('READY');
    expect(run!.rowsWritten).toBe(3);
    const data = await t.app.inject({ method: 'GET', url: '/v1/training_set/ts/default/data', headers: t.auth });
    expect(data.statusCode, data.body).toBe(200);
    const rows = data.body.trim().split('\n').map((l) => JSON.parse(l) as Json);
    expect(Object.fromEntries(rows.map((r) => [`${r.user_id}@${r.ts}`, [r.v__default, r.y__default]]))).toEqual({
      'u1@2026-01-01T12:00:00.000Z': [1.5, true],
      'u1@2026-01-03T00:00:00.000Z': [2.5, false],
      'u2@2026-01-03T00:00:00.000Z': [null, false], // u2's only value comes a day later
    });
  }, 150_000);
});
