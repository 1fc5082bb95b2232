import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readDefinitionFiles } from '../../src/registry/definition-files.js';
import { openTestTrellis, registryFlavours, type TestTrellis } from '../support/trellis-harness.js';

type Json = Record<string, any>;

const entity = { kind: 'entity', name: 'user', keys: [{ name: 'user_id', type: 'string' }] };
const warehouse = { kind: 'provider', name: 'wh', type: 'duckdb', roles: ['offline'], config: { path: 'x.duckdb' } };
const txns = { kind: 'source', name: 'txns', provider: 'wh', table: 'transactions', timestampColumn: 'ts' };
const feature = (over: Json = {}) => ({ kind: 'feature', name: 'amount', entity: 'user', source: 'txns', column: 'amount', valueType: 'float', ...over });
const base = [warehouse, entity, txns];

describe.each(registryFlavours)('registry on %s', (flavour) => {
  let t: TestTrellis;
  const apply = (resources: unknown[], extra: Json = {}) =>
    t.app.inject({ method: 'POST', url: '/v1/apply', headers: t.auth, payload: { resources, ...extra } });
  const get = (url: string, headers: Json = t.auth) => t.app.inject({ method: 'GET', url, headers });

  beforeAll(async () => {
    // About the registry: its definitions name tables that exist nowhere. Apply-time source checks are
    // tested in apply-verification.test.ts.
    t = await openTestTrellis(flavour, {}, { verifySources: false });
  });
  afterAll(async () => {
    await t?.close();
  });

  it('applies the demo definitions once, then reports them unchanged', async () => {
    const { resources } = await readDefinitionFiles('definitions/examples');
    const dry = await apply(resources, { dryRun: true });
    expect(dry.statusCode).toBe(200);
    expect(dry.json().applied).toBe(false);
    expect(new Set(dry.json().actions.map((a: Json) => a.action))).toEqual(new Set(['create']));
    expect((await get('/v1/feature')).json().items).toHaveLength(0);

    const first = await apply(resources);
    expect(first.statusCode).toBe(200);
    expect(first.json().actions.every((a: Json) => a.action === 'create')).toBe(true);
    expect(first.json().actions).toHaveLength(resources.length);
    const edges = first.json().edges as Json[];
    expect(edges).toContainEqual({
      from: { kind: 'source', name: 'transactions', variant: 'default' },
      to: { kind: 'transformation', name: 'merchant_daily', variant: 'default' },
    });

    const second = await apply(resources);
    expect(second.json().actions.every((a: Json) => a.action === 'unchanged')).toBe(true);
    expect(second.json().edges).toEqual([]);
  });

  it('pins references and derives lineage both ways', async () => {
    const res = await get('/v1/training_set/fraud_training/default');
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body.resource.definition.label).toBe('is_fraud@default');
    expect(body.upstream.map((u: Json) => `${u.kind}:${u.name}`)).toEqual([
      'feature:user_amount_sum_7d',
      'feature:user_last_amount',
      'feature:user_txn_count_7d',
      'label:is_fraud',
    ]);
    const src = (await get('/v1/source/transactions/default')).json();
    expect(src.downstream.map((d: Json) => d.name)).toContain('merchant_daily');
    const transformation = (await get('/v1/transformation/merchant_daily/default')).json();
    expect(transformation.resource.definition.sql).toContain('{{ transactions.default }}');
  });

  it('merges tags and properties on an equivalent re-apply', async () => {
    await apply([...base, feature({ name: 'tagged', tags: ['a'], properties: { team: 'x' } })]);
    const res = await apply([...base, feature({ name: 'tagged', tags: ['b'], properties: { tier: '1' }, description: 'now described' })]);
    expect(res.json().actions.at(-1).action).toBe('unchanged');
    const stored = (await get('/v1/feature/tagged/default')).json().resource;
    expect(stored.tags).toEqual(['a', 'b']);
    expect(stored.properties).toEqual({ team: 'x', tier: '1' });
    expect(stored.description).toBe('now described');
  });

  it('refuses a different definition under the same variant with 409 and the differing fields', async () => {
    await apply([...base, feature({ name: 'windowed', column: undefined, aggregation: { fn: 'sum', column: 'amount', window: '7d' } })]);
    const res = await apply([...base, feature({ name: 'windowed', column: undefined, aggregation: { fn: 'sum', column: 'amount', window: '14d' }, ttl: '1d' })]);
    expect(res.statusCode).toBe(409);
    const body = res.json();
    expect(body.error.code).toBe('TRELLIS_ERR_CONFLICT');
    const conflict = body.error.details.plan.actions.find((a: Json) => a.action === 'conflict');
    expect(conflict.name).toBe('windowed');
    expect(conflict.diff).toEqual([
      { field: '/aggregation/window', existing: '7d', proposed: '14d' },
      { field: '/ttl', proposed: '1d' },
    ]);
    // all or nothing: a new resource in the same failed apply was not created
    const mixed = await apply([...base, feature({ name: 'brand_new' }), feature({ name: 'windowed', column: 'amount' })]);
    expect(mixed.statusCode).toBe(409);
    expect((await get('/v1/feature/brand_new')).statusCode).toBe(404);
  });

  it('makes the latest created variant the default and pins unversioned references to it', async () => {
    await apply([...base, feature({ name: 'versioned', variant: 'v1' })]);
    await apply([...base, feature({ name: 'versioned', variant: 'v2', column: 'amount_usd' })]);
    const res = (await get('/v1/feature/versioned')).json();
    expect(res.defaultVariant).toBe('v2');
    expect(res.variants.map((v: Json) => v.variant)).toEqual(['v2', 'v1']);
    await apply([...base, { kind: 'feature_service', name: 'svc_versioned', features: ['versioned', 'versioned@v1'] }]);
    const svc = (await get('/v1/feature_service/svc_versioned/default')).json();
    expect(svc.resource.definition.features).toEqual(['versioned@v2', 'versioned@v1']);
  });

  it.each([
    ['unknown kind', [{ kind: 'widget', name: 'x' }], '/resources/0/kind'],
    ['unknown field', [{ ...entity, name: 'e2', colour: 'red' }], '/resources/0/colour'],
    ['missing field', [{ kind: 'entity', name: 'e3' }], '/resources/0/keys'],
    ['bad duration', [...base, feature({ name: 'f_ttl', ttl: 'seven days' })], '/resources/3/ttl'],
    ['bad cron', [...base, feature({ name: 'f_cron', schedule: 'every minute!' })], '/resources/3/schedule'],
    ['both column and aggregation', [...base, feature({ name: 'f_both', aggregation: { fn: 'count', window: '1d' } })], '/resources/3'],
    ['key column count', [...base, feature({ name: 'f_keys', keyColumns: ['a', 'b'] })], '/resources/3/keyColumns'],
    ['online provider without online role', [...base, feature({ name: 'f_online', onlineProvider: 'wh' })], '/resources/3/onlineProvider'],
    ['unknown provider type', [{ ...warehouse, name: 'wh2', type: 'oracle' }], '/resources/0/type'],
    ['unsupported role', [{ ...warehouse, name: 'wh3', roles: ['online'] }], '/resources/0/roles'],
  ])('refuses %s with 400 and a JSON pointer', async (_label, resources, pointer) => {
    const res = await apply(resources);
    expect(res.statusCode).toBe(400);
    expect(res.json().error.pointer).toBe(pointer);
  });

  it.each(['bad"quote', 'semi;colon', 'dash--dash', 'has space', 'ünïcode', 'a'.repeat(64), 'double__underscore', 'Upper', '1digit', ''])(
    'refuses the name %j',
    async (name) => {
      const res = await apply([{ ...entity, name }]);
      expect(res.statusCode).toBe(400);
      expect(res.json().error.pointer).toBe('/resources/0/name');
    },
  );

  it('names a missing reference', async () => {
    const res = await apply([warehouse, entity, feature({ name: 'orphan', source: 'nowhere' })]);
    expect(res.statusCode).toBe(400);
    expect(res.json().error.code).toBe('TRELLIS_ERR_UNKNOWN_REFERENCE');
    expect(res.json().error.message).toContain('nowhere');
    expect(res.json().error.pointer).toBe('/resources/2/source');
  });

  it('refuses reference cycles and cross-provider training sets', async () => {
    const cycle = await apply([warehouse, { kind: 'transformation', name: 'loop', provider: 'wh', sql: 'SELECT * FROM {{ loop }}', timestampColumn: 'ts' }]);
    expect(cycle.statusCode).toBe(400);
    expect(cycle.json().error.message).toContain('cycle');

    const other = { ...warehouse, name: 'wh_other' };
    const res = await apply([
      ...base,
      other,
      { ...txns, name: 'labels_elsewhere', provider: 'wh_other' },
      { kind: 'label', name: 'lbl', entity: 'user', source: 'labels_elsewhere', column: 'y', valueType: 'bool' },
      feature({ name: 'f_here' }),
      { kind: 'training_set', name: 'ts_cross', label: 'lbl', features: ['f_here'] },
    ]);
    expect(res.statusCode).toBe(400);
    expect(res.json().error.pointer).toBe('/resources/7/features/0');
  });

  it('refuses literal secrets and never stores them', async () => {
    const res = await apply([{ kind: 'provider', name: 'pg', type: 'postgres', roles: ['offline'], config: { host: 'db', password: 'hunter2' } }]);
    expect(res.statusCode).toBe(400);
    expect(res.json().error.code).toBe('TRELLIS_ERR_LITERAL_SECRET');
    expect(res.json().error.pointer).toBe('/resources/0/config/password');
    expect(res.body).not.toContain('hunter2');
    const url = await apply([{ kind: 'provider', name: 'pg', type: 'postgres', roles: ['offline'], config: { url: 'postgres://u:hunter2@db/x' } }]);
    expect(url.statusCode).toBe(400);
    const ok = await apply([{ kind: 'provider', name: 'pg', type: 'postgres', roles: ['offline'], config: { connectionString: 'env:PG_URL' } }]);
    expect(ok.statusCode).toBe(200);
  });

  // Each built-in adapter checks its config at apply: what its factory would refuse or silently ignore is a 400 at the key.
  const provider = (type: string, roles: string[], config: Json) => ({ kind: 'provider', name: 'bad_config', type, roles, config });
  it.each([
    ['kafka: SASL mechanism kafkajs lacks', provider('kafka', ['stream'], { brokers: ['k:9092'], sasl: { mechanism: 'gssapi', username: 'u', password: 'env:P' } }), '/config/sasl/mechanism', /expected plain, scram-sha-256 or scram-sha-512/],
    ['kafka: a typo', provider('kafka', ['stream'], { broker: ['k:9092'] }), '/config/broker', /unknown key; expected one of brokers, /],
    ['kafka: broker without port', provider('kafka', ['stream'], { brokers: ['k'] }), '/config/brokers', /host:port/],
    ['kafka: schema registry not http', provider('kafka', ['stream'], { brokers: 'k:9092', schemaRegistry: { url: 'k:8081' } }), '/config/schemaRegistry/url', /http\(s\) URL/],
    ['postgres: no connectionString', provider('postgres', ['offline'], { schema: 'features' }), '/config/connectionString', /connectionString is required/],
    ['postgres: zero connections', provider('postgres', ['offline'], { connectionString: 'env:PG_URL', maxConnections: 0 }), '/config/maxConnections', /greater or equal to 1/],
    ['redis: url and nodes', provider('redis', ['online'], { url: 'redis://r:6379', nodes: ['r:7000'] }), '/config/nodes', /not both/],
    ['redis: node without port', provider('redis', ['online'], { nodes: ['r:7000', 'r'] }), '/config/nodes/1', /host:port/],
    ['redis: timeout as text', provider('redis', ['online'], { url: 'redis://r:6379', commandTimeoutMs: '100' }), '/config/commandTimeoutMs', /expected integer/],
    ['redis: braces in keyPrefix', provider('redis', ['online'], { url: 'redis://r:6379', keyPrefix: 'a{b}' }), '/config/keyPrefix', /\{ or \}/],
    ['snowflake: no account', provider('snowflake', ['offline'], { username: 'U', database: 'D', schema: 'S', password: 'env:SF' }), '/config/account', /account is required/],
    ['bigquery: flag as text', provider('bigquery', ['offline'], { projectId: 'p', dataset: 'd', createDataset: 'yes' }), '/config/createDataset', /expected boolean/],
    ['duckdb: a typo', provider('duckdb', ['offline'], { file: 'x.duckdb' }), '/config/file', /unknown key file; expected one of path/],
    ['embedded: takes no config', provider('embedded', ['online'], { path: 'x' }), '/config/path', /unknown key path/],
  ])('refuses a provider config its adapter cannot use (%s) at the key, storing nothing', async (_case, resource, pointer, reason) => {
    const res = await apply([resource]);
    expect(res.statusCode, res.body).toBe(400);
    expect(res.json().error).toMatchObject({ code: 'TRELLIS_ERR_INVALID_DEFINITION', pointer: `/resources/0${pointer}` });
    expect(res.json().error.message).toMatch(reason);
    expect((await get('/v1/provider/bad_config')).statusCode).toBe(404);
  });

  it('takes secret references wherever a provider config holds a string', async () => {
    const res = await apply([
      provider('kafka', ['stream'], { brokers: 'env:KAFKA_BROKERS', sasl: { mechanism: 'env:KAFKA_MECHANISM', username: 'u', password: 'env:KAFKA_PASSWORD' }, schemaRegistry: { url: 'env:REGISTRY_URL' } }),
      { ...provider('redis', ['online'], { url: 'env:REDIS_URL', keyPrefix: 'f:' }), name: 'cache_ref' },
      { ...provider('redis', ['online'], { nodes: ['env:REDIS_NODE', { host: 'r', port: 7000 }], password: 'env:REDIS_PASSWORD' }), name: 'cluster_ref' },
    ], { dryRun: true });
    expect(res.statusCode, res.body).toBe(200);
  });

  it('refuses an Avro stream source whose kafka provider has no schema registry, at its format', async () => {
    const stream = (name: string, config: Json) => ({ kind: 'provider', name, type: 'kafka', roles: ['stream'], config });
    const source = (providerName: string) => ({
      kind: 'source', name: 'avro_clicks', provider: providerName, topic: 'clicks', format: 'avro', timestampColumn: 'ts',
      fields: [{ name: 'user_id', type: 'string' }, { name: 'ts', type: 'timestamp' }],
    });
    const without = await apply([stream('plain_kafka', { brokers: ['k:9092'] }), source('plain_kafka')], { dryRun: true });
    expect(without.statusCode, without.body).toBe(400);
    expect(without.json().error).toMatchObject({ code: 'TRELLIS_ERR_INVALID_DEFINITION', pointer: '/resources/1/format' });
    expect(without.json().error.message).toContain('schemaRegistry');
    const withRegistry = await apply([stream('registry_kafka', { brokers: ['k:9092'], schemaRegistry: { url: 'http://registry:8081' } }), source('registry_kafka')], { dryRun: true });
    expect(withRegistry.statusCode, withRegistry.body).toBe(200);
  });

  it('answers 413 for a body over the limit', async () => {
    const small = await openTestTrellis('pglite', { bodyLimitBytes: 2048 });
    try {
      const res = await small.app.inject({ method: 'POST', url: '/v1/apply', headers: small.auth, payload: { resources: Array.from({ length: 100 }, (_, i) => ({ ...entity, name: `e${i}` })) } });
      expect(res.statusCode).toBe(413);
      expect(res.json().error.code).toBe('TRELLIS_ERR_BODY_TOO_LARGE');
    } finally {
      await small.close();
    }
  });

  it('creates a resource exactly once under 20 concurrent applies', async () => {
    const results = await Promise.all(Array.from({ length: 20 }, () => apply([...base, feature({ name: 'raced' })])));
    expect(results.map((r) => r.statusCode)).toEqual(Array(20).fill(200));
    const actions = results.map((r) => r.json().actions.at(-1).action);
    expect(actions.filter((a) => a === 'create')).toHaveLength(1);
    expect(actions.filter((a) => a === 'unchanged')).toHaveLength(19);
  });

  it('deletes only resources without dependents', async () => {
    await apply([...base, feature({ name: 'leaf' })]);
    const refused = await t.app.inject({ method: 'DELETE', url: '/v1/source/txns/default', headers: t.auth });
    expect(refused.statusCode).toBe(409);
    expect(refused.json().error.details.dependents).toContainEqual({ kind: 'feature', name: 'leaf', variant: 'default' });
    const ok = await t.app.inject({ method: 'DELETE', url: '/v1/feature/leaf/default', headers: t.auth });
    expect(ok.statusCode).toBe(204);
    expect((await get('/v1/feature/leaf/default')).statusCode).toBe(404);
  });

  it('pages through a kind with a stable cursor and filters', async () => {
    await apply([...base, ...Array.from({ length: 5 }, (_, i) => feature({ name: `paged_${i}`, tags: ['paged'], owner: i % 2 ? 'odd' : 'even' }))]);
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const res: Json = (await get(`/v1/feature?tag=paged&limit=2${cursor ? `&cursor=${cursor}` : ''}`)).json();
      seen.push(...res.items.map((i: Json) => i.name));
      cursor = res.nextCursor;
    } while (cursor);
    expect(seen).toEqual(['paged_0', 'paged_1', 'paged_2', 'paged_3', 'paged_4']);
    const odd = (await get('/v1/feature?tag=paged&owner=odd')).json();
    expect(odd.items.map((i: Json) => i.name)).toEqual(['paged_1', 'paged_3']);
    expect((await get('/v1/feature?cursor=bogus')).statusCode).toBe(400);
    expect((await get('/v1/widget')).statusCode).toBe(400);
  });

  it('requires an API key with the right scope', async () => {
    expect((await get('/v1/feature', {})).statusCode).toBe(401);
    expect((await get('/v1/feature', { authorization: 'Bearer trl_nope' })).statusCode).toBe(401);
    const created = await t.app.inject({ method: 'POST', url: '/v1/keys', headers: t.auth, payload: { name: 'reader', scopes: ['read'] } });
    expect(created.statusCode).toBe(201);
    const reader = { authorization: `Bearer ${created.json().key}` };
    expect((await get('/v1/feature', reader)).statusCode).toBe(200);
    const denied = await t.app.inject({ method: 'POST', url: '/v1/apply', headers: reader, payload: { resources: [] } });
    expect(denied.statusCode).toBe(403);
    expect(denied.json().error.code).toBe('TRELLIS_ERR_FORBIDDEN');
    const keys = await get('/v1/keys');
    expect(keys.body).not.toContain(created.json().key);
    const revoked = await t.app.inject({ method: 'DELETE', url: `/v1/keys/${created.json().info.keyId}`, headers: t.auth });
    expect(revoked.statusCode).toBe(204);
    expect((await get('/v1/feature', reader)).statusCode).toBe(401);
    const scoped = await t.app.inject({ method: 'POST', url: '/v1/keys', headers: t.auth, payload: { name: 'fraud-ci', scopes: ['write'], patterns: ['fraud_*'] } });
    const fraudOnly = { authorization: `Bearer ${scoped.json().key}` };
    const outside = await t.app.inject({ method: 'POST', url: '/v1/apply', headers: fraudOnly, payload: { resources: [{ ...entity, name: 'other_entity' }] } });
    expect(outside.statusCode).toBe(403);
    const inside = await t.app.inject({ method: 'POST', url: '/v1/apply', headers: fraudOnly, payload: { resources: [{ ...entity, name: 'fraud_entity' }] } });
    expect(inside.statusCode).toBe(200);
  });

  it('serves health and readiness without a key', async () => {
    expect((await get('/healthz', {})).json()).toEqual({ status: 'ok' });
    expect((await get('/readyz', {})).json()).toEqual({ status: 'ready', registry: flavour });
  });
});
