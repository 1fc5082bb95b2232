import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTestTrellis, type TestTrellis } from '../support/trellis-harness.js';
import { createRedisPrefix, redisUrl } from '../support/services.js';
import { OnlineReader } from '../../src/serving/online-reader.js';

type Json = Record<string, any>;

const HOUR = 3_600_000;

function definitions(onlineProvider: Json) {
  return [
    { kind: 'provider', name: 'wh', type: 'duckdb', roles: ['offline'], config: { path: 'wh.duckdb' } },
    onlineProvider,
    { kind: 'entity', name: 'user', keys: [{ name: 'user_id', type: 'string' }] },
    { kind: 'entity', name: 'card', keys: [{ name: 'bank', type: 'string' }, { name: 'card_no', type: 'int' }] },
    { kind: 'source', name: 'txns', provider: 'wh', table: 'txns', timestampColumn: 'ts' },
    { kind: 'feature', name: 'amount', entity: 'user', source: 'txns', column: 'amount', valueType: 'float', ttl: '2h', onlineProvider: 'kv' },
    { kind: 'feature', name: 'country', entity: 'user', source: 'txns', column: 'country', valueType: 'string', onlineProvider: 'kv' },
    { kind: 'feature', name: 'vip', entity: 'user', source: 'txns', column: 'vip', valueType: 'bool', onlineProvider: 'kv' },
    { kind: 'feature', name: 'embedding', entity: 'user', source: 'txns', column: 'emb', valueType: 'float_list', onlineProvider: 'kv' },
    { kind: 'feature', name: 'card_spend', entity: 'card', source: 'txns', keyColumns: ['bank', 'card_no'], column: 'spend', valueType: 'int', onlineProvider: 'kv' },
    { kind: 'feature', name: 'offline_only', entity: 'user', source: 'txns', column: 'amount', valueType: 'float' },
    { kind: 'feature_service', name: 'model', features: ['country', 'amount', 'card_spend'] },
    {
      kind: 'feature_service', name: 'scored', features: ['amount', 'country', 'card_spend'],
      onDemand: [
        { name: 'amount_ratio', expression: 'context.price / max(coalesce(amount, 1), 1)', valueType: 'float' },
        { name: 'is_domestic', expression: "country == context.country", valueType: 'bool' },
        { name: 'spend_band', expression: "card_spend > 1000 ? 'high' : 'low'", valueType: 'string' },
      ],
    },
  ];
}

const cases: [string, () => Json][] = [
  ['embedded', () => ({ kind: 'provider', name: 'kv', type: 'embedded', roles: ['online'] })],
  ['redis', () => ({ kind: 'provider', name: 'kv', type: 'redis', roles: ['online'], config: { url: redisUrl(), keyPrefix: createRedisPrefix('serving') } })],
];

describe.each(cases)('online serving on %s', (_name, provider) => {
  let t: TestTrellis;
  const now = Date.now();
  const read = (payload: Json, headers: Json = t.auth) => t.app.inject({ method: 'POST', url: '/v1/features/online', headers, payload });

  beforeAll(async () => {
    t = await openTestTrellis('pglite', {}, { verifySources: false }); // the warehouse tables are not created here
    const res = await t.app.inject({ method: 'POST', url: '/v1/apply', headers: t.auth, payload: { resources: definitions(provider()) } });
    expect(res.statusCode).toBe(200);
    const store = await t.providers.online('kv@default');
    await store.ensureTable({ entity: 'user@default', table: 'amount@default', valueType: 'float', ttlSeconds: 7200 });
    await store.writeBatch('user@default', 'amount@default', [
      { key: ['u1'], value: 12.5, eventTs: now - HOUR },
      { key: ['u2'], value: 99, eventTs: now - 3 * HOUR },
      { key: ['u3'], value: null, eventTs: now - HOUR },
    ]);
    await store.ensureTable({ entity: 'user@default', table: 'country@default', valueType: 'string' });
    await store.writeBatch('user@default', 'country@default', [{ key: ['u1'], value: 'NL', eventTs: now - 10 * HOUR }]);
    await store.ensureTable({ entity: 'user@default', table: 'vip@default', valueType: 'bool' });
    await store.writeBatch('user@default', 'vip@default', [{ key: ['u1'], value: false, eventTs: now }]);
    await store.ensureTable({ entity: 'user@default', table: 'embedding@default', valueType: 'float_list' });
    await store.writeBatch('user@default', 'embedding@default', [{ key: ['u1'], value: [0.25, -1, 3.5], eventTs: now }]);
    await store.ensureTable({ entity: 'card@default', table: 'card_spend@default', valueType: 'int' });
    await store.writeBatch('card@default', 'card_spend@default', [{ key: ['ing', 42], value: 1200, eventTs: now }]);
  });
  afterAll(async () => {
    await t?.close();
  });

  it('returns typed values, statuses and event times per entity row in request order', async () => {
    const res = await read({ features: ['amount', 'country@default', 'vip', 'embedding'], entities: [{ user_id: 'u2' }, { user_id: 'u1' }, { user_id: 'u3' }, { user_id: 'nobody' }] });
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body.features).toEqual(['amount@default', 'country@default', 'vip@default', 'embedding@default']);
    // A value older than its ttl is never served; a store that expires keys physically (Redis) may already
    // have dropped it, which reads as NOT_FOUND instead of OUTSIDE_MAX_AGE.
    const stale = body.results[0];
    expect(stale.values).toEqual([null, null, null, null]);
    expect(stale.statuses[0] === 'OUTSIDE_MAX_AGE' ? stale.eventTimestamps[0] : null).toBe(stale.statuses[0] === 'OUTSIDE_MAX_AGE' ? now - 3 * HOUR : null);
    expect(['OUTSIDE_MAX_AGE', 'NOT_FOUND']).toContain(stale.statuses[0]);
    expect(body.results.slice(1)).toEqual([
      { values: [12.5, 'NL', false, [0.25, -1, 3.5]], statuses: ['PRESENT', 'PRESENT', 'PRESENT', 'PRESENT'], eventTimestamps: [now - HOUR, now - 10 * HOUR, now, now] },
      { values: [null, null, null, null], statuses: ['NULL_VALUE', 'NOT_FOUND', 'NOT_FOUND', 'NOT_FOUND'], eventTimestamps: [now - HOUR, null, null, null] },
      { values: [null, null, null, null], statuses: ['NOT_FOUND', 'NOT_FOUND', 'NOT_FOUND', 'NOT_FOUND'], eventTimestamps: [null, null, null, null] },
    ]);
  });

  it('serves a feature service across entities with multi-column keys', async () => {
    const res = await read({ featureService: 'model', entities: [{ user_id: 'u1', bank: 'ing', card_no: 42 }, { user_id: 'u9', bank: 'ing', card_no: 43 }] });
    expect(res.statusCode).toBe(200);
    expect(res.json().results.map((r: Json) => r.values)).toEqual([['NL', 12.5, 1200], [null, null, null]]);
    expect(res.json().results[1].statuses).toEqual(['NOT_FOUND', 'NOT_FOUND', 'NOT_FOUND']);
  });

  it('evaluates on-demand features from fetched values and request context', async () => {
    const res = await read({ featureService: 'scored', entities: [{ user_id: 'u1', bank: 'ing', card_no: 42 }, { user_id: 'u9', bank: 'x', card_no: 1 }], context: { price: 25, country: 'NL' } });
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body.features).toEqual(['amount@default', 'country@default', 'card_spend@default', 'amount_ratio', 'is_domestic', 'spend_band']);
    expect(body.results[0].values).toEqual([12.5, 'NL', 1200, 2, true, 'high']);
    expect(body.results[0].eventTimestamps[3]).toBe(now - HOUR);
    // null propagates (is_domestic); a conditional treats a null test as false (spend_band)
    expect(body.results[1].values).toEqual([null, null, null, 25, null, 'low']);
    expect(body.results[1].statuses.slice(3)).toEqual(['PRESENT', 'NULL_VALUE', 'PRESENT']);
  });

  it('refuses on-demand expressions that are unsafe or read undeclared features', async () => {
    const apply = (expression: string) => t.app.inject({ method: 'POST', url: '/v1/apply', headers: t.auth, payload: { resources: [{ kind: 'feature_service', name: 'bad_odf', features: ['amount'], onDemand: [{ name: 'x', expression, valueType: 'float' }] }] } });
    for (const expression of ['constructor.constructor("return process")()', 'amount; process.exit()', 'vip * 2']) {
      const res = await apply(expression);
      expect(res.statusCode).toBe(400);
      expect(res.json().error.pointer).toBe('/resources/0/onDemand/0/expression');
    }
  });

  it('answers 404 naming an unknown feature or service', async () => {
    const feature = await read({ features: ['amount', 'nope'], entities: [{ user_id: 'u1' }] });
    expect(feature.statusCode).toBe(404);
    expect(feature.json().error.message).toContain('nope');
    const service = await read({ featureService: 'ghost', entities: [{ user_id: 'u1' }] });
    expect(service.statusCode).toBe(404);
    expect(service.json().error.message).toContain('ghost');
  });

  it.each([
    [{ features: ['card_spend'], entities: [{ bank: 'ing' }] }, '/entities/0/card_no'],
    [{ features: ['card_spend'], entities: [{ bank: 'ing', card_no: 42 }, { bank: 'ing', card_no: 'x' }] }, '/entities/1/card_no'],
    [{ features: ['amount'], entities: [{ user_id: 7 }] }, '/entities/0/user_id'],
    [{ features: ['offline_only'], entities: [{ user_id: 'u1' }] }, '/features/0'],
    [{ entities: [{ user_id: 'u1' }] }, '/features'],
    [{ features: ['amount'], entities: [] }, '/entities'],
    [{ features: ['amount'], entities: [{ user_id: 'u1' }], extra: 1 }, '/extra'],
  ])('answers 400 naming the bad part of %j', async (payload, pointer) => {
    const res = await read(payload);
    expect(res.statusCode).toBe(400);
    expect(res.json().error.pointer).toBe(pointer);
  });

  it('answers 413 above the entity limit and requires the serve scope', async () => {
    const many = await read({ features: ['amount'], entities: Array.from({ length: 1001 }, (_, i) => ({ user_id: `u${i}` })) });
    expect(many.statusCode).toBe(413);
    expect(many.json().error.code).toBe('TRELLIS_ERR_TOO_MANY_ENTITIES');
    expect((await read({ features: ['amount'], entities: [{ user_id: 'u1' }] }, {})).statusCode).toBe(401);
    const key = await t.app.inject({ method: 'POST', url: '/v1/keys', headers: t.auth, payload: { name: 'ro', scopes: ['read'] } });
    expect((await read({ features: ['amount'], entities: [{ user_id: 'u1' }] }, { authorization: `Bearer ${key.json().key}` })).statusCode).toBe(403);
  });

  it('answers with the JSON of the typed read for any order of features, across entities and with ttl', async () => {
    // readJson (the HTTP answer) against JSON.stringify of read (the typed path) on the same reader and instant;
    // shuffled feature orders take the multi-call path, in-order single-entity lists the one-call path.
    const reader = new OnlineReader(t.catalog, t.providers, { maxEntities: 100 });
    const entities = [{ user_id: 'u1', bank: 'ing', card_no: 42 }, { user_id: 'u2', bank: 'ing', card_no: 43 }, { user_id: 'u3', bank: 'x', card_no: 1 }, { user_id: 'nobody', bank: 'ing', card_no: 42 }];
    const lists = [
      ['amount', 'country', 'vip', 'embedding'],
      ['embedding', 'amount', 'card_spend', 'vip', 'country'],
      ['card_spend', 'amount'],
      ['vip'],
    ];
    for (const at of [now, now + 2 * HOUR]) {
      for (const request of [...lists.map((features) => ({ features, entities })), { featureService: 'model', entities }, { featureService: 'scored', entities, context: { price: 3, country: 'NL' } }]) {
        const json = JSON.parse(String(await reader.readJson(request, at)));
        expect(json).toStrictEqual(JSON.parse(JSON.stringify(await reader.read(request, at))));
        expect(json.results).toHaveLength(entities.length);
      }
    }
    const res = await read({ features: ['embedding', 'amount', 'vip'], entities: [{ user_id: 'u1' }] });
    expect(res.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(res.json().results[0]).toEqual({ values: [[0.25, -1, 3.5], 12.5, false], statuses: ['PRESENT', 'PRESENT', 'PRESENT'], eventTimestamps: [now, now - HOUR, now] });
  });

  it('picks up a new default variant after apply without a restart', async () => {
    const before = await read({ features: ['country'], entities: [{ user_id: 'u1' }] });
    expect(before.json().features).toEqual(['country@default']);
    const res = await t.app.inject({
      method: 'POST', url: '/v1/apply', headers: t.auth,
      payload: { resources: [{ kind: 'feature', name: 'country', variant: 'v2', entity: 'user', source: 'txns', column: 'country_iso', valueType: 'string', onlineProvider: 'kv' }] },
    });
    expect(res.statusCode).toBe(200);
    await expect.poll(async () => (await read({ features: ['country'], entities: [{ user_id: 'u1' }] })).json().features, { timeout: 5000 }).toEqual(['country@v2']);
  });
});

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = net.createServer().listen(0, '127.0.0.1', () => {
      const port = (server.address() as net.AddressInfo).port;
      server.close(() => resolve(port));
    });
  });
}

describe('online serving when Redis goes away', () => {
  let t: TestTrellis;
  let redis: ChildProcess | null = null;
  let port = 0;
  const startRedis = async () => {
    redis = spawn('redis-server', ['--port', String(port), '--save', '', '--appendonly', 'no', '--bind', '127.0.0.1'], { stdio: 'ignore' });
    const deadline = Date.now() + 10_000;
    const accepts = () => new Promise<boolean>((resolve) => {
      const socket = net.connect(port, '127.0.0.1');
      socket.once('connect', () => { socket.destroy(); resolve(true); }).once('error', () => resolve(false));
    });
    while (!(await accepts())) {
      if (Date.now() > deadline) throw new Error(`redis-server on ${port} did not start`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  const read = () => t.app.inject({ method: 'POST', url: '/v1/features/online', headers: t.auth, payload: { features: ['amount'], entities: [{ user_id: 'u1' }] } });

  beforeAll(async () => {
    port = await freePort();
    await startRedis();
    t = await openTestTrellis('pglite', {}, { verifySources: false }); // the warehouse tables are not created here
    const res = await t.app.inject({ method: 'POST', url: '/v1/apply', headers: t.auth, payload: { resources: definitions({ kind: 'provider', name: 'kv', type: 'redis', roles: ['online'], config: { url: `redis://127.0.0.1:${port}` } }) } });
    expect(res.statusCode).toBe(200);
    const store = await t.providers.online('kv@default');
    await store.ensureTable({ entity: 'user@default', table: 'amount@default', valueType: 'float', ttlSeconds: 7200 });
    await store.writeBatch('user@default', 'amount@default', [{ key: ['u1'], value: 1.5, eventTs: Date.now() }]);
  });
  afterAll(async () => {
    redis?.kill('SIGKILL');
    await t?.close();
  });

  it('fails fast with 503 while Redis is down and recovers by itself', async () => {
    expect((await read()).json().results[0].values).toEqual([1.5]);
    redis!.kill('SIGKILL');
    await new Promise((resolve) => redis!.once('exit', resolve));
    const started = performance.now();
    const down = await read();
    const elapsed = performance.now() - started;
    expect(down.statusCode).toBe(503);
    expect(down.json().error.code).toBe('TRELLIS_ERR_ONLINE_UNAVAILABLE');
    expect(elapsed).toBeLessThan(1000); // default timeout is 100 ms; generous bound for a loaded CI machine
    await startRedis();
    const store = await t.providers.online('kv@default');
    await expect.poll(async () => (await read()).statusCode, { timeout: 10_000, interval: 100 }).toBe(200);
    await store.writeBatch('user@default', 'amount@default', [{ key: ['u1'], value: 2.5, eventTs: Date.now() }]);
    expect((await read()).json().results[0].values).toEqual([2.5]);
  });
});
