import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { DiscoveryCache } from '../../src/api/graphql/discovery-cache.js';
import { ConfigSchema } from '../../src/config/config-schema.js';
import { RegistryQueries } from '../../src/registry/registry-queries.js';
import { openTestTrellis, registryFlavours, type TestTrellis } from '../support/trellis-harness.js';

type Json = Record<string, any>;

const lake = { kind: 'provider', name: 'lake', type: 'duckdb', roles: ['offline'], config: { path: 'lake.duckdb' } };
const account = { kind: 'entity', name: 'account', keys: [{ name: 'account_id', type: 'string' }] };
const events = { kind: 'source', name: 'events', provider: 'lake', table: 'events', timestampColumn: 'ts' };
const feature = (name: string, over: Json = {}) => ({ kind: 'feature', name, entity: 'account', source: 'events', column: name, valueType: 'float', ...over });
const noCoordinator = 'coordinator' in ConfigSchema.properties ? { coordinator: { enabled: false } } : {};

const SEARCH = `query($q: String) { search(query: $q, first: 10) { totalCount nodes { id description } } }`;
const LINEAGE = `{ lineage(kind: SOURCE, name: "events", direction: DOWNSTREAM, depth: 2) { totalCount nodes { resource { id status } } } }`;

/**
 * The GraphQL result cache (graphql.resultCache): repeated search and lineage queries are answered without a
 * registry statement, and every registry change drops what was cached.
 */
describe.each(registryFlavours)('graphql result cache on %s', (flavour) => {
  const open = async (resultCache?: number) => {
    // Definitions name tables no warehouse holds: the cache is under test, not apply-time source checks.
    const t = await openTestTrellis(flavour, { ...(resultCache === undefined ? {} : { graphql: { resultCache } }), ...noCoordinator }, { verifySources: false });
    await t.registry.apply([lake, account, events, feature('comet_rate', { description: 'Comets per night' })], { actor: 'test' });
    return t;
  };
  let t: TestTrellis;
  beforeAll(async () => {
    t = await open();
  });
  afterAll(async () => {
    await t?.close();
  });

  /**
   * Runs a query and counts the statements on resources and lineage edges issued meanwhile (the coordinator is
   * off and nothing else runs, so they are this request's).
   */
  const measured = async (on: TestTrellis, query: string, variables?: Json) => {
    const db = on.db as { query: (...args: any[]) => Promise<any> };
    const original = db.query;
    let statements = 0;
    db.query = (text: string, params?: unknown[]) => {
      if (/\b(resources|lineage_edges)\b/.test(text)) statements++;
      return original(text, params);
    };
    try {
      const res = await on.app.inject({ method: 'POST', url: '/graphql', headers: on.auth, payload: { query, variables } });
      const body = res.json() as Json;
      expect(body.errors, JSON.stringify(body.errors)).toBeUndefined();
      return { data: body.data as Json, statements };
    } finally {
      db.query = original;
    }
  };

  it('answers a repeated search or lineage without a registry statement; an apply drops it before returning', async () => {
    await measured(t, SEARCH, { q: 'warm' }); // the API key cache
    const first = await measured(t, SEARCH, { q: 'comet' });
    expect(first.statements).toBeGreaterThan(0);
    expect(first.data.search.totalCount).toBe(1);
    const again = await measured(t, SEARCH, { q: 'comet' });
    expect(again).toEqual({ data: first.data, statements: 0 });

    const lineage = await measured(t, LINEAGE);
    expect(lineage.statements).toBeGreaterThan(0);
    expect((await measured(t, LINEAGE)).statements).toBe(0);

    await t.registry.apply([lake, account, events, feature('comet_tail', { description: 'Comet tails' })], { actor: 'test' });
    const after = await measured(t, SEARCH, { q: 'comet' });
    expect(after.statements).toBeGreaterThan(0);
    expect(after.data.search.nodes.map((n: Json) => n.id).sort()).toEqual(['feature:comet_rate@default', 'feature:comet_tail@default']);
    expect((await measured(t, LINEAGE)).data.lineage.totalCount).toBe(lineage.data.lineage.totalCount + 1);
  });

  it('drops cached results on changes that create nothing: metadata merges, status updates, deletes, other writers', async () => {
    const search = async (q: string) => (await measured(t, SEARCH, { q })).data.search;
    expect((await search('comet')).nodes.find((n: Json) => n.id === 'feature:comet_rate@default').description).toBe('Comets per night');
    // A re-apply that only merges metadata: the change notification (not apply) invalidates.
    await t.registry.apply([lake, account, events, feature('comet_rate', { description: 'Comets per night, revised' })], { actor: 'test' });
    await vi.waitFor(async () => expect((await search('comet')).nodes.find((n: Json) => n.id === 'feature:comet_rate@default').description).toBe('Comets per night, revised'));

    // A status written by someone else (a coordinator, another replica) on the registry database.
    const statusOf = async () => (await measured(t, LINEAGE)).data.lineage.nodes.find((n: Json) => n.resource.id === 'feature:comet_rate@default').resource.status;
    const before = await statusOf();
    expect(await statusOf()).toBe(before);
    await t.db.query(`update resources set status = 'FAILED' where kind = 'feature' and name = 'comet_rate'`);
    await vi.waitFor(async () => expect(await statusOf()).toBe('FAILED'));

    // A delete through the REST API.
    expect((await search('tails')).totalCount).toBe(1);
    const deleted = await t.app.inject({ method: 'DELETE', url: '/v1/feature/comet_tail/default', headers: t.auth });
    expect(deleted.statusCode).toBe(204);
    await vi.waitFor(async () => expect((await search('tails')).totalCount).toBe(0));
  });

  it('answers runs and freshness live: operations selecting them are never served whole from the cache', async () => {
    const FRESHNESS = `query Fresh { resource(kind: FEATURE, name: "comet_rate") { id ... Runs } } fragment Runs on Feature { freshness { lastRun { id } } }`;
    const lastRun = async () => (await measured(t, FRESHNESS)).data.resource.freshness.lastRun;
    expect(await lastRun()).toBeNull();
    expect(await lastRun()).toBeNull();
    // Runs change without a registry change notification.
    const { rows } = await t.db.query<{ id: string | number }>(
      `insert into runs (kind, name, variant, task, status, not_before) values ('feature', 'comet_rate', 'default', 'materialization', 'PENDING', now() + interval '1 day') returning id`,
    );
    expect(await lastRun()).toEqual({ id: String(rows[0]!.id) });
    // The same resource without runs is served whole: no statement at all.
    const plain = `{ resource(kind: FEATURE, name: "comet_rate") { id status } }`;
    await measured(t, plain);
    expect(await measured(t, plain)).toMatchObject({ statements: 0 });
  });

  it('loads an entry again once it is older than its maximum age, and bounds what it holds', async () => {
    let statements = 0;
    const db = t.db as { query: (...args: any[]) => Promise<any> };
    const counting = new RegistryQueries({ ...t.db, query: (text: string, params?: unknown[]) => (statements++, db.query(text, params)) } as typeof t.db);
    const aged = new DiscoveryCache(counting, 1000, 200);
    const options = { query: 'comet', first: 5, withTotal: true };
    const first = await aged.search(options);
    const loaded = statements;
    expect(await aged.search(options)).toBe(first);
    expect(statements).toBe(loaded);
    await new Promise((resolve) => setTimeout(resolve, 250));
    expect(await aged.search(options)).toEqual(first);
    expect(statements).toBeGreaterThan(loaded);

    // Capacity counts resources: two one-hit pages fit in 2, a third pushes the least recently used out.
    const small = new DiscoveryCache(counting, 2);
    const page = (q: string) => small.search({ query: q, first: 1 });
    await page('comet');
    await page('night');
    await page('comet');
    expect(small.size).toBe(2);
    await page('tails');
    expect(small.size).toBe(2);
    const before = statements;
    await page('comet'); // kept: used more recently than 'night'
    expect(statements).toBe(before);
    await page('night'); // pushed out
    expect(statements).toBeGreaterThan(before);
  });

  it('reads the registry on every request with graphql.resultCache 0', async () => {
    const uncached = await open(0);
    try {
      await measured(uncached, SEARCH, { q: 'warm' });
      for (let i = 0; i < 3; i++) expect((await measured(uncached, SEARCH, { q: 'comet' })).statements).toBeGreaterThan(0);
      expect((await measured(uncached, LINEAGE)).statements).toBeGreaterThan(0);
      expect((await measured(uncached, LINEAGE)).statements).toBeGreaterThan(0);
    } finally {
      await uncached.close();
    }
  });
});
