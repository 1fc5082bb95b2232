import { AsyncLocalStorage } from 'node:async_hooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigSchema } from '../../src/config/config-schema.js';
import { readDefinitionFiles } from '../../src/registry/definition-files.js';
import { openTestTrellis, registryFlavours, type TestTrellis } from '../support/trellis-harness.js';

type Json = Record<string, any>;

const lake = { kind: 'provider', name: 'lake', type: 'duckdb', roles: ['offline'], config: { path: 'lake.duckdb' } };
const account = { kind: 'entity', name: 'account', keys: [{ name: 'account_id', type: 'string' }] };
const events = { kind: 'source', name: 'events', provider: 'lake', table: 'events', timestampColumn: 'ts', owner: 'platform' };
const transformation = (name: string, sql: string) => ({ kind: 'transformation', name, provider: 'lake', sql, timestampColumn: 'ts' });
/** events → left_branch, right_branch → joined → joined_score; events → churned → churn_training ← joined_score. */
const diamond = [
  lake,
  account,
  events,
  transformation('left_branch', 'SELECT * FROM {{ events }} WHERE x > 0'),
  transformation('right_branch', 'SELECT * FROM {{ events }} WHERE x <= 0'),
  transformation('joined', 'SELECT * FROM {{ left_branch }} UNION ALL SELECT * FROM {{ right_branch }}'),
  { kind: 'feature', name: 'joined_score', entity: 'account', source: 'joined', column: 'score', valueType: 'float' },
  { kind: 'label', name: 'churned', entity: 'account', source: 'events', column: 'churned', valueType: 'bool' },
  { kind: 'training_set', name: 'churn_training', label: 'churned', features: ['joined_score'] },
  { kind: 'feature_service', name: 'churn_model', features: ['joined_score'] },
];
const accountFeature = (name: string, over: Json = {}) => ({ kind: 'feature', name, entity: 'account', source: 'events', column: name, valueType: 'float', ...over });

const ids = (list: Json[]) => list.map((r) => r.id);
/** These tests write runs themselves: keep a coordinator (where there is one) from executing any. */
const noCoordinator = 'coordinator' in ConfigSchema.properties ? { coordinator: { enabled: false } } : {};

describe.each(registryFlavours)('graphql on %s', (flavour) => {
  let t: TestTrellis;
  const gql = async (query: string, variables?: Json, headers: Json = t.auth) => {
    const res = await t.app.inject({ method: 'POST', url: '/graphql', headers, payload: { query, ...(variables ? { variables } : {}) } });
    return { status: res.statusCode, body: res.json() as Json };
  };
  const data = async (query: string, variables?: Json) => {
    const { status, body } = await gql(query, variables);
    expect(body.errors, JSON.stringify(body.errors)).toBeUndefined();
    expect(status).toBe(200);
    return body.data as Json;
  };
  const apply = (resources: unknown[]) => t.registry.apply(resources, { actor: 'test' });

  beforeAll(async () => {
    // Room for the 100-node query of the N+1 test; the limits themselves are tested on their own instance below.
    // Definitions name tables no warehouse holds: discovery is under test, not apply-time source checks.
    t = await openTestTrellis(flavour, { graphql: { maxComplexity: 100_000 }, ...noCoordinator }, { verifySources: false });
    await apply((await readDefinitionFiles('definitions/examples')).resources);
    await apply(diamond);
  });
  afterAll(async () => {
    await t?.close();
  });

  it('resolves every kind with its variants, metadata, definition and where it lives', async () => {
    await apply([lake, account, events, accountFeature('balance', { variant: 'v1', tags: ['money'], properties: { team: 'ledger' }, owner: 'ledger' })]);
    await apply([lake, account, events, accountFeature('balance', { variant: 'v2', column: 'balance_usd', ttl: '1d' })]);
    const d = await data(`{
      feature: resource(kind: FEATURE, name: "balance") {
        id kind name variant isDefaultVariant status definition
        variants { id variant isDefaultVariant }
        provider { name type roles }
        ... on Feature { column ttl valueType entity { name keys { name valueType } } source { id } }
      }
      v1: resource(kind: FEATURE, name: "balance", variant: "v1") { owner tags properties isDefaultVariant createdAt }
      missing: resource(kind: FEATURE, name: "nope") { id }
      provider: resource(kind: PROVIDER, name: "online") { ... on Provider { type roles config } provider { id } }
      source: resource(kind: SOURCE, name: "transactions") { owner tags provider { name } ... on Source { table timestampColumn createdTimestampColumn features { name } } }
      transformation: resource(kind: TRANSFORMATION, name: "merchant_daily") { provider { name } ... on Transformation { sql inputs { id } features { name } } }
      label: resource(kind: LABEL, name: "is_fraud") { provider { name } ... on Label { column entity { name } source { name } trainingSets { name } } }
      trainingSet: resource(kind: TRAINING_SET, name: "fraud_training") { provider { name } ... on TrainingSet { label { name } features { name } featureJoins { lag feature { name } } } }
      service: resource(kind: FEATURE_SERVICE, name: "fraud_model") { provider { id } ... on FeatureService { features { name } } }
      entity: resource(kind: ENTITY, name: "user") { ... on Entity { keys { name valueType } features { name } labels { name } } }
      demo: resource(kind: FEATURE, name: "user_amount_sum_7d") {
        ... on Feature { aggregation { function column window } onlineProvider { name roles } trainingSets { name } featureServices { name } }
      }
    }`);
    expect(d.feature).toMatchObject({
      id: 'feature:balance@v2',
      kind: 'FEATURE',
      variant: 'v2',
      isDefaultVariant: true,
      status: 'READY',
      column: 'balance_usd',
      ttl: '1d',
      valueType: 'float',
      entity: { name: 'account', keys: [{ name: 'account_id', valueType: 'string' }] },
      source: { id: 'source:events@default' },
      provider: { name: 'lake', type: 'duckdb', roles: ['OFFLINE'] },
    });
    expect(d.feature.definition).toMatchObject({ kind: 'feature', entity: 'account@default', source: 'events@default' });
    expect(d.feature.variants).toEqual([
      { id: 'feature:balance@v2', variant: 'v2', isDefaultVariant: true },
      { id: 'feature:balance@v1', variant: 'v1', isDefaultVariant: false },
    ]);
    expect(d.v1).toMatchObject({ owner: 'ledger', tags: ['money'], properties: { team: 'ledger' }, isDefaultVariant: false });
    // two variants of one name in one apply: the later one is the default
    await apply([lake, account, events, accountFeature('twin', { variant: 'v1' }), accountFeature('twin', { variant: 'v2', column: 'twin_2' })]);
    expect((await data(`{ resource(kind: FEATURE, name: "twin") { variants { id isDefaultVariant } } }`)).resource.variants).toEqual([
      { id: 'feature:twin@v2', isDefaultVariant: true },
      { id: 'feature:twin@v1', isDefaultVariant: false },
    ]);
    expect(new Date(d.v1.createdAt).toISOString()).toBe(d.v1.createdAt);
    expect(d.missing).toBeNull();
    expect(d.provider).toEqual({ type: 'embedded', roles: ['ONLINE'], config: {}, provider: null });
    expect(d.source).toMatchObject({ owner: 'payments-data', tags: ['payments', 'pii-free'], provider: { name: 'warehouse' }, table: 'transactions', createdTimestampColumn: 'created_ts' });
    expect(d.source.features.map((f: Json) => f.name).sort()).toEqual(['user_amount_sum_7d', 'user_last_amount', 'user_txn_count_7d']);
    expect(d.transformation).toMatchObject({ provider: { name: 'warehouse' }, inputs: [{ id: 'source:transactions@default' }], features: [{ name: 'merchant_avg_amount_1d' }] });
    expect(d.transformation.sql).toContain('{{ transactions.default }}');
    expect(d.label).toEqual({ provider: { name: 'warehouse' }, column: 'is_fraud', entity: { name: 'user' }, source: { name: 'fraud_reports' }, trainingSets: [{ name: 'fraud_training' }] });
    expect(d.trainingSet.provider).toEqual({ name: 'warehouse' });
    expect(d.trainingSet.label).toEqual({ name: 'is_fraud' });
    expect(d.trainingSet.features).toEqual([{ name: 'user_last_amount' }, { name: 'user_txn_count_7d' }, { name: 'user_amount_sum_7d' }]);
    expect(d.trainingSet.featureJoins).toEqual([
      { lag: null, feature: { name: 'user_last_amount' } },
      { lag: null, feature: { name: 'user_txn_count_7d' } },
      { lag: '1h', feature: { name: 'user_amount_sum_7d' } },
    ]);
    expect(d.service.provider).toBeNull();
    expect(d.service.features.map((f: Json) => f.name)).toEqual(['user_last_amount', 'user_txn_count_7d', 'user_amount_sum_7d', 'merchant_avg_amount_1d']);
    expect(d.entity.keys).toEqual([{ name: 'user_id', valueType: 'string' }]);
    expect(d.entity.labels).toEqual([{ name: 'is_fraud' }]);
    expect(d.demo).toEqual({
      aggregation: { function: 'sum', column: 'amount', window: '7d' },
      onlineProvider: { name: 'online', roles: ['ONLINE'] },
      trainingSets: [{ name: 'fraud_training' }],
      featureServices: [{ name: 'fraud_model' }],
    });
  });

  describe('search', () => {
    beforeAll(async () => {
      await apply([
        lake,
        account,
        events,
        accountFeature('zephyr_score', { description: 'A plain number' }),
        accountFeature('plain_one', { description: 'Zephyr winds measured hourly' }),
        { ...events, name: 'tagged_src', table: 'tagged', tags: ['zephyr', 'weather'], description: 'Nothing to see' },
        accountFeature('owned_feat', { owner: 'zephyr', description: 'Owned by the weather team' }),
      ]);
    });
    const search = async (args: string) => (await data(`{ search(${args}) { totalCount edges { rank node { id } } pageInfo { hasNextPage } } }`)).search;

    it('ranks name over description over tags over owner', async () => {
      const res = await search('query: "zephyr"');
      expect(ids(res.edges.map((e: Json) => e.node))).toEqual(['feature:zephyr_score@default', 'feature:plain_one@default', 'source:tagged_src@default', 'feature:owned_feat@default']);
      const ranks = res.edges.map((e: Json) => e.rank);
      expect([...ranks].sort((a, b) => b - a)).toEqual(ranks);
      expect(new Set(ranks).size).toBe(4);
      expect(res.totalCount).toBe(4);
    });

    it('matches prefixes and English stems, and needs every word', async () => {
      expect((await search('query: "zeph"')).totalCount).toBe(4);
      expect(ids((await search('query: "winding"')).edges.map((e: Json) => e.node))).toEqual(['feature:plain_one@default']);
      expect(ids((await search('query: "Zephyr, the HOURLY!"')).edges.map((e: Json) => e.node))).toEqual(['feature:plain_one@default']);
      expect((await search('query: "zephyr nonexistentword"')).totalCount).toBe(0);
      expect((await search('query: "?!"')).totalCount).toBe(0);
    });

    it('filters by kinds, tags (all of them) and owner, with or without text', async () => {
      expect(ids((await search('query: "zephyr", kinds: [SOURCE]')).edges.map((e: Json) => e.node))).toEqual(['source:tagged_src@default']);
      expect(ids((await search('query: "zephyr", kinds: [SOURCE, LABEL]')).edges.map((e: Json) => e.node))).toEqual(['source:tagged_src@default']);
      expect(ids((await search('tags: ["zephyr", "weather"]')).edges.map((e: Json) => e.node))).toEqual(['source:tagged_src@default']);
      expect((await search('tags: ["zephyr", "absent"]')).totalCount).toBe(0);
      expect(ids((await search('owner: "zephyr"')).edges.map((e: Json) => e.node))).toEqual(['feature:owned_feat@default']);
      expect((await search('query: "weather", owner: "zephyr"')).edges.map((e: Json) => e.node.id)).toEqual(['feature:owned_feat@default']);
      const browse = await search('kinds: [TRAINING_SET]');
      expect(ids(browse.edges.map((e: Json) => e.node))).toEqual(['training_set:fraud_training@default', 'training_set:churn_training@default']);
      expect(browse.edges.every((e: Json) => e.rank === 0)).toBe(true);
    });

    it('returns default variants unless allVariants', async () => {
      await apply([lake, account, events, accountFeature('zephyr_score', { variant: 'v2', column: 'zephyr_v2', description: 'A plain number' })]);
      expect(ids((await search('query: "zephyr", kinds: [FEATURE]')).edges.map((e: Json) => e.node))).toEqual([
        'feature:zephyr_score@v2',
        'feature:plain_one@default',
        'feature:owned_feat@default',
      ]);
      const all = await search('query: "zephyr_score", allVariants: true');
      expect(ids(all.edges.map((e: Json) => e.node))).toEqual(['feature:zephyr_score@default', 'feature:zephyr_score@v2']);
      // deleting the default variant makes the previous one the default again
      const deleted = await t.app.inject({ method: 'DELETE', url: '/v1/feature/zephyr_score/v2', headers: t.auth });
      expect(deleted.statusCode).toBe(204);
      expect(ids((await search('query: "zephyr_score"')).edges.map((e: Json) => e.node))).toEqual(['feature:zephyr_score@default']);
      expect((await data(`{ resource(kind: FEATURE, name: "zephyr_score") { id isDefaultVariant } }`)).resource).toEqual({ id: 'feature:zephyr_score@default', isDefaultVariant: true });
    });

    it('finds a variant by the description, tags and owner a re-apply merged in', async () => {
      expect((await search('query: "quasar"')).totalCount).toBe(0);
      await apply([lake, account, events, accountFeature('zephyr_score', { description: 'Now about a quasar', tags: ['nebula'], owner: 'astro' })]);
      expect(ids((await search('query: "quasar nebula astro"')).edges.map((e: Json) => e.node))).toEqual(['feature:zephyr_score@default']);
    });

    it('pages with a stable cursor while resources are added', async () => {
      await apply([lake, account, events, ...Array.from({ length: 12 }, (_, i) => accountFeature(`probe_${i}`)), ...Array.from({ length: 11 }, (_, i) => accountFeature(`pager_${i}`, { description: 'A probe of paging' }))]);
      const full = (await data(`{ search(query: "probe", first: 100) { edges { node { id } } } }`)).search.edges.map((e: Json) => e.node.id);
      expect(full).toHaveLength(23);
      expect(full.slice(0, 12).every((id: string) => id.startsWith('feature:probe_'))).toBe(true);

      const seen: string[] = [];
      let after: string | null = null;
      let page = 0;
      do {
        const res: Json = (await data(`query($after: String) { search(query: "probe", first: 4, after: $after) { edges { cursor node { id } } pageInfo { hasNextPage endCursor } } }`, { after })).search;
        seen.push(...res.edges.map((e: Json) => e.node.id));
        expect(res.pageInfo.endCursor).toBe(res.edges.at(-1)?.cursor ?? null);
        after = res.pageInfo.hasNextPage ? res.pageInfo.endCursor : null;
        // Resources added mid-way, ranking before and after the cursor, must not shift or repeat the others.
        await apply([lake, account, events, accountFeature(`probe_late_${page}`), accountFeature(`late_pager_${page}`, { description: 'probe arriving late' })]);
        page++;
      } while (after);
      expect(new Set(seen).size).toBe(seen.length);
      expect(seen.filter((id) => !id.includes('late'))).toEqual(full);

      // totalCount counts every match whatever the page, also past the last one
      const now = (await data(`{ search(query: "probe", first: 100) { totalCount edges { cursor } } }`)).search;
      expect(now.totalCount).toBe(now.edges.length);
      const past = (await data(`query($after: String) { search(query: "probe", first: 3, after: $after) { totalCount edges { cursor } pageInfo { hasNextPage endCursor } } }`, { after: now.edges.at(-1).cursor })).search;
      expect(past).toEqual({ totalCount: now.totalCount, edges: [], pageInfo: { hasNextPage: false, endCursor: null } });
    });

    it('refuses bad page sizes and cursors with coded errors', async () => {
      for (const [args, pointer] of [
        ['first: 0', '/search/first'],
        ['first: 101', '/search/first'],
        ['after: "bm9wZQ"', '/search/after'],
      ]) {
        const { status, body } = await gql(`{ search(${args}) { totalCount } }`);
        expect(status).toBe(200);
        expect(body.errors[0].extensions).toMatchObject({ code: 'TRELLIS_ERR_VALIDATION', pointer });
      }
    });
  });

  describe('lineage', () => {
    const lineage = async (args: string) =>
      (await data(`{ lineage(${args}) { root { id } nodes { distance position resource { id } } edges { from { id } to { id } } } }`)).lineage;
    const nodeIds = (l: Json) => l.nodes.map((n: Json) => `${n.distance}:${n.position}:${n.resource.id}`);
    const edgeIds = (l: Json) => l.edges.map((e: Json) => `${e.from.id} -> ${e.to.id}`);

    it('walks a diamond downstream, each resource once at its shortest distance', async () => {
      const down = await lineage('kind: SOURCE, name: "events", direction: DOWNSTREAM, depth: 3');
      expect(down.root.id).toBe('source:events@default');
      expect(nodeIds(down)).toEqual([
        '0:ROOT:source:events@default',
        '1:DOWNSTREAM:feature:balance@v1',
        '1:DOWNSTREAM:feature:balance@v2',
        ...nodeIds(down).filter((n: string) => n.startsWith('1:DOWNSTREAM:feature:') && !n.includes('balance')),
        '1:DOWNSTREAM:label:churned@default',
        '1:DOWNSTREAM:transformation:left_branch@default',
        '1:DOWNSTREAM:transformation:right_branch@default',
        '2:DOWNSTREAM:training_set:churn_training@default',
        '2:DOWNSTREAM:transformation:joined@default',
        '3:DOWNSTREAM:feature:joined_score@default',
      ]);
      const diamondEdges = edgeIds(down).filter((e: string) => !/feature:(?!joined_score)/.test(e.split(' -> ')[1]!));
      expect(diamondEdges).toEqual([
        'feature:joined_score@default -> training_set:churn_training@default',
        'label:churned@default -> training_set:churn_training@default',
        'source:events@default -> label:churned@default',
        'source:events@default -> transformation:left_branch@default',
        'source:events@default -> transformation:right_branch@default',
        'transformation:joined@default -> feature:joined_score@default',
        'transformation:left_branch@default -> transformation:joined@default',
        'transformation:right_branch@default -> transformation:joined@default',
      ]);
      const deeper = await lineage('kind: SOURCE, name: "events", direction: DOWNSTREAM, depth: 4');
      expect(nodeIds(deeper)).toContain('4:DOWNSTREAM:feature_service:churn_model@default');
      expect(nodeIds(down).some((n: string) => n.includes('churn_model'))).toBe(false);
    });

    it('walks upstream and both ways from the default variant', async () => {
      const up = await lineage('kind: FEATURE, name: "joined_score", direction: UPSTREAM, depth: 3');
      expect(nodeIds(up)).toEqual([
        '0:ROOT:feature:joined_score@default',
        '1:UPSTREAM:entity:account@default',
        '1:UPSTREAM:transformation:joined@default',
        '2:UPSTREAM:provider:lake@default',
        '2:UPSTREAM:transformation:left_branch@default',
        '2:UPSTREAM:transformation:right_branch@default',
        '3:UPSTREAM:source:events@default',
      ]);
      expect(edgeIds(up)).toContain('transformation:left_branch@default -> transformation:joined@default');
      expect(edgeIds(up)).toContain('provider:lake@default -> source:events@default');

      const both = await lineage('kind: TRANSFORMATION, name: "joined", variant: "default", depth: 1');
      expect(nodeIds(both)).toEqual([
        '0:ROOT:transformation:joined@default',
        '1:DOWNSTREAM:feature:joined_score@default',
        '1:UPSTREAM:provider:lake@default',
        '1:UPSTREAM:transformation:left_branch@default',
        '1:UPSTREAM:transformation:right_branch@default',
      ]);
      expect(edgeIds(both)).toEqual([
        'provider:lake@default -> transformation:joined@default',
        'provider:lake@default -> transformation:left_branch@default',
        'provider:lake@default -> transformation:right_branch@default',
        'transformation:joined@default -> feature:joined_score@default',
        'transformation:left_branch@default -> transformation:joined@default',
        'transformation:right_branch@default -> transformation:joined@default',
      ]);
    });

    it('refuses a cycle at apply, and a hand-made cycle in the table cannot make a walk loop', async () => {
      const cycle = [lake, events, transformation('loop_a', 'SELECT * FROM {{ loop_b }}'), transformation('loop_b', 'SELECT * FROM {{ loop_a }}')];
      await expect(apply(cycle)).rejects.toMatchObject({ code: 'TRELLIS_ERR_INVALID_DEFINITION', message: expect.stringContaining('cycle') });
      const rest = await t.app.inject({ method: 'POST', url: '/v1/apply', headers: t.auth, payload: { resources: cycle } });
      expect(rest.statusCode).toBe(400);
      const planned = await gql(`query($r: [JSON!]!) { impact(resources: $r) { applicable } }`, { r: cycle });
      expect(planned.body.errors[0].extensions.code).toBe('TRELLIS_ERR_INVALID_DEFINITION');
      expect(planned.body.errors[0].message).toContain('cycle');
      expect(planned.body.errors[0].extensions.pointer).toMatch(/^\/resources\/\d+$/);
      expect((await data(`{ resource(kind: TRANSFORMATION, name: "loop_a") { id } }`)).resource).toBeNull();

      await t.db.query(`insert into lineage_edges values ('feature', 'joined_score', 'default', 'source', 'events', 'default')`);
      try {
        const looped = await lineage('kind: SOURCE, name: "events", direction: BOTH, depth: 25');
        const found = looped.nodes.map((n: Json) => n.resource.id);
        expect(new Set(found).size).toBe(found.length);
        expect(looped.nodes[0]).toEqual({ distance: 0, position: 'ROOT', resource: { id: 'source:events@default' } });
        expect(found).toContain('feature_service:churn_model@default');
        const impact = await data(`query($r: [JSON!]!) { impact(resources: $r) { affected { resource { id } } } }`, { r: [{ ...events, table: 'changed' }] });
        const affected = impact.impact.affected.map((a: Json) => a.resource.id);
        expect(new Set(affected).size).toBe(affected.length);
      } finally {
        await t.db.query(`delete from lineage_edges where from_name = 'joined_score' and to_name = 'events'`);
      }
    });

    it('answers coded errors for a missing root and a bad depth', async () => {
      const missing = await gql(`{ lineage(kind: SOURCE, name: "nowhere") { root { id } } }`);
      expect(missing.status).toBe(200);
      expect(missing.body.data).toBeNull();
      expect(missing.body.errors[0]).toMatchObject({ path: ['lineage'], extensions: { code: 'TRELLIS_ERR_NOT_FOUND' } });
      for (const depth of [0, 26]) {
        const bad = await gql(`{ lineage(kind: SOURCE, name: "events", depth: ${depth}) { root { id } } }`);
        expect(bad.body.errors[0].extensions).toMatchObject({ code: 'TRELLIS_ERR_VALIDATION', pointer: '/lineage/depth' });
      }
    });
  });

  describe('lineage pages', () => {
    const PAGE = `query($first: Int, $after: String, $depth: Int) {
      lineage(kind: SOURCE, name: "events", direction: BOTH, depth: $depth, first: $first, after: $after) {
        root { id } totalCount nodes { distance position resource { id } } edges { from { id } to { id } } pageInfo { hasNextPage endCursor }
      }
    }`;
    const nodeKey = (n: Json) => `${n.distance}:${n.position}:${n.resource.id}`;
    const edgeKey = (e: Json) => `${e.from.id} -> ${e.to.id}`;
    /** Every page of `size` in order, running `between(page)` after each. */
    const allPages = async (size: number, depth: number, between: (page: number) => Promise<void> = async () => {}) => {
      const pages: Json[] = [];
      let after: string | null = null;
      do {
        const page: Json = (await data(PAGE, { first: size, after, depth })).lineage;
        pages.push(page);
        after = page.pageInfo.hasNextPage ? page.pageInfo.endCursor : null;
        await between(pages.length);
      } while (after);
      return pages;
    };

    it('pages nodes in a stable order; the pages partition the edges, each joining nodes already returned', async () => {
      const whole = (await data(PAGE, { depth: 5 })).lineage;
      expect(whole.pageInfo).toEqual({ hasNextPage: false, endCursor: expect.any(String) });
      expect(whole.totalCount).toBe(whole.nodes.length);
      expect(whole.nodes.length).toBeGreaterThan(5);
      for (const size of [1, 3, 7]) {
        const pages = await allPages(size, 5);
        expect(pages).toHaveLength(Math.ceil(whole.nodes.length / size));
        const nodes = pages.flatMap((p) => p.nodes.map(nodeKey));
        expect(nodes).toEqual(whole.nodes.map(nodeKey));
        const edges = pages.flatMap((p) => p.edges.map(edgeKey));
        expect(new Set(edges).size).toBe(edges.length);
        expect([...edges].sort()).toEqual(whole.edges.map(edgeKey).sort());
        const seen = new Set<string>();
        for (const page of pages) {
          expect(page.root.id).toBe('source:events@default');
          expect(page.totalCount).toBe(whole.totalCount);
          expect(page.nodes.length).toBeLessThanOrEqual(size);
          for (const n of page.nodes) seen.add(n.resource.id);
          for (const e of page.edges) expect(seen.has(e.from.id) && seen.has(e.to.id), edgeKey(e)).toBe(true);
        }
      }
    });

    it('neither repeats nor skips a resource while others are applied between pages', async () => {
      const before = (await data(PAGE, { depth: 5 })).lineage.nodes.map(nodeKey);
      let added = 0;
      const pages = await allPages(4, 5, async (page) => {
        // A new feature next to the root (sorting before the cursor by now) and a new service far downstream.
        await apply([lake, account, events, accountFeature(`paged_late_${page}`), { kind: 'feature_service', name: `paged_model_${page}`, features: [`paged_late_${page}`] }]);
        added++;
      });
      const nodes = pages.flatMap((p) => p.nodes.map(nodeKey));
      expect(new Set(nodes).size).toBe(nodes.length);
      expect(nodes.filter((n) => !n.includes('paged_'))).toEqual(before.filter((n) => !n.includes('paged_')));
      // Services applied before the cursor passed distance 2 are found on later pages.
      expect(nodes.some((n) => n.startsWith('2:DOWNSTREAM:feature_service:paged_model_'))).toBe(true);
      expect((await data(PAGE, { depth: 5 })).lineage.totalCount).toBe(before.length + 2 * added);
    });

    it('refuses bad page sizes and cursors with coded errors, and answers an empty page past the end', async () => {
      for (const [vars, pointer] of [
        [{ first: 0 }, '/lineage/first'],
        [{ first: 101 }, '/lineage/first'],
        [{ after: 'bm9wZQ' }, '/lineage/after'],
      ] as const) {
        const { body } = await gql(PAGE, { depth: 2, ...vars });
        expect(body.errors[0].extensions).toMatchObject({ code: 'TRELLIS_ERR_VALIDATION', pointer });
      }
      const last = (await data(PAGE, { depth: 2 })).lineage;
      const past = (await data(PAGE, { depth: 2, after: last.pageInfo.endCursor })).lineage;
      expect(past).toEqual({ root: { id: 'source:events@default' }, totalCount: last.totalCount, nodes: [], edges: [], pageInfo: { hasNextPage: false, endCursor: null } });
    });
  });

  describe('impact', () => {
    const impactQuery = `query($r: [JSON!]!, $kinds: [ResourceKind!]) { impact(resources: $r) {
      applicable
      actions { key { id kind } action diff { field existing proposed } existing { id } replacesDefault { id } }
      newEdges { from { id } to { id } }
      affected(kinds: $kinds) { distance resource { id } causes { reason change { id } } }
    } }`;

    it('shows what a changed source would touch downstream', async () => {
      const { impact } = await data(impactQuery, { r: [lake, { ...events, table: 'events_v2' }], kinds: ['FEATURE', 'TRAINING_SET', 'FEATURE_SERVICE'] });
      expect(impact.applicable).toBe(false);
      expect(impact.actions).toEqual([
        { key: { id: 'provider:lake@default', kind: 'PROVIDER' }, action: 'UNCHANGED', diff: [], existing: { id: 'provider:lake@default' }, replacesDefault: null },
        {
          key: { id: 'source:events@default', kind: 'SOURCE' },
          action: 'CONFLICT',
          diff: [{ field: '/table', existing: 'events', proposed: 'events_v2' }],
          existing: { id: 'source:events@default' },
          replacesDefault: null,
        },
      ]);
      const affected = impact.affected.map((a: Json) => `${a.distance}:${a.resource.id}`);
      expect(affected).toContain('2:training_set:churn_training@default');
      expect(affected).toContain('3:feature:joined_score@default');
      expect(affected).toContain('4:feature_service:churn_model@default');
      expect(affected).toContain('1:feature:balance@v2');
      expect(affected.some((a: string) => /transformation|label/.test(a))).toBe(false);
      expect(impact.affected[0].causes).toEqual([{ reason: 'CONFLICT', change: { id: 'source:events@default' } }]);
      // nothing was applied
      expect((await data(`{ resource(kind: SOURCE, name: "events") { ... on Source { table } } }`)).resource.table).toBe('events');

      const all = await data(impactQuery, { r: [{ ...events, table: 'events_v2' }] });
      expect(all.impact.affected.map((a: Json) => a.resource.id)).toContain('transformation:joined@default');
    });

    it('shows a new variant, the default it replaces and its new edges', async () => {
      const { impact } = await data(impactQuery, { r: [{ ...events, variant: 'v2', table: 'events_v2' }], kinds: ['TRAINING_SET'] });
      expect(impact.applicable).toBe(true);
      expect(impact.actions).toEqual([
        { key: { id: 'source:events@v2', kind: 'SOURCE' }, action: 'CREATE', diff: [], existing: null, replacesDefault: { id: 'source:events@default' } },
      ]);
      expect(impact.newEdges).toEqual([{ from: { id: 'provider:lake@default' }, to: { id: 'source:events@v2' } }]);
      expect(impact.affected).toEqual([{ distance: 2, resource: { id: 'training_set:churn_training@default' }, causes: [{ reason: 'NEW_DEFAULT_VARIANT', change: { id: 'source:events@v2' } }] }]);
    });

    it('answers definition errors with their code and pointer', async () => {
      const { body } = await gql(impactQuery, { r: [lake, { ...events, name: 'broken', ttl: 'soon' }] });
      expect(body.data).toBeNull();
      expect(body.errors[0].extensions).toMatchObject({ code: 'TRELLIS_ERR_INVALID_DEFINITION', pointer: '/resources/1/ttl' });
      const missing = await gql(impactQuery, { r: [accountFeature('orphan', { source: 'nowhere' })] });
      expect(missing.body.errors[0].extensions).toMatchObject({ code: 'TRELLIS_ERR_UNKNOWN_REFERENCE', pointer: '/resources/0/source' });
    });
  });

  describe('runs and freshness', () => {
    const base = Date.now();
    const minutesAgo = (m: number) => new Date(base - m * 60_000).toISOString();
    /** Inserts a run through the legal status transitions (the coordinator's guard refuses others). */
    /**
     * Inserts a run through the legal status transitions (the coordinator's guard refuses others). A PENDING run
     * is not due before tomorrow, so that no worker would claim it.
     */
    const run = async (name: string, status: 'READY' | 'FAILED' | 'PENDING', hoursAgo: number, extra: { rowsRead?: number; rowsWritten?: number; error?: string } = {}) => {
      const { rows } = await t.db.query<{ id: string | number }>(
        `insert into runs (kind, name, variant, task, status, created_at, not_before)
         values ('feature', $1, 'default', 'materialization', 'PENDING', $2::timestamptz, now() + interval '1 day') returning id`,
        [name, minutesAgo(hoursAgo * 60 + 20)],
      );
      const id = String(rows[0]!.id);
      if (status === 'PENDING') return id;
      await t.db.query(`update runs set status = 'RUNNING', attempts = 1, started_at = $2::timestamptz where id = $1`, [id, minutesAgo(hoursAgo * 60 + 10)]);
      await t.db.query(`update runs set status = $2, finished_at = $3::timestamptz, rows_read = $4, rows_written = $5, error = $6 where id = $1`, [
        id,
        status,
        minutesAgo(hoursAgo * 60),
        extra.rowsRead ?? null,
        extra.rowsWritten ?? null,
        extra.error ?? null,
      ]);
      return id;
    };
    const freshnessQuery = `query($name: String!, $after: String, $status: [RunStatus!]) { resource(kind: FEATURE, name: $name) { ... on Feature {
      freshness { status lagSeconds lastSuccessAt rowsRead rowsWritten lastError lastSuccess { id } lastRun { id status } lastFailure { id error } }
      runs(first: 2, after: $after, status: $status) { nodes { id task status rowsWritten durationSeconds createdAt finishedAt } pageInfo { hasNextPage endCursor } }
    } } }`;

    it('reports the last success, lag, row counts and last error per feature', async () => {
      // Features without an online provider: applying them queues no materialization of its own.
      await apply([lake, account, events, accountFeature('fresh_a'), accountFeature('fresh_b'), accountFeature('fresh_never')]);
      const first = await run('fresh_a', 'READY', 3, { rowsRead: 100, rowsWritten: 100 });
      const second = await run('fresh_a', 'READY', 2, { rowsRead: 5_000_000_000, rowsWritten: 900 });
      const failed = await run('fresh_a', 'FAILED', 1, { error: 'warehouse timeout' });
      const pending = await run('fresh_a', 'PENDING', 0);
      await run('fresh_b', 'FAILED', 2, { error: 'boom' });
      await run('fresh_b', 'READY', 1, { rowsWritten: 7 });

      const { resource } = await data(freshnessQuery, { name: 'fresh_a' });
      expect(resource.freshness).toMatchObject({
        status: 'FAILING',
        rowsRead: 5_000_000_000,
        rowsWritten: 900,
        lastError: 'warehouse timeout',
        lastSuccess: { id: second },
        lastRun: { id: pending, status: 'PENDING' },
        lastFailure: { id: failed, error: 'warehouse timeout' },
      });
      // `base` was taken when the file was collected: the lag is 2 h plus the time since then.
      const sinceBase = (Date.now() - base) / 1000;
      expect(resource.freshness.lagSeconds).toBeGreaterThan(2 * 3600 - 5);
      expect(resource.freshness.lagSeconds).toBeLessThan(2 * 3600 + sinceBase + 5);
      expect(resource.runs.nodes.map((r: Json) => r.id)).toEqual([pending, failed]);
      expect(resource.runs.nodes[1]).toMatchObject({ task: 'materialization', status: 'FAILED', durationSeconds: 600 });
      expect(resource.runs.pageInfo.hasNextPage).toBe(true);
      const next = (await data(freshnessQuery, { name: 'fresh_a', after: resource.runs.pageInfo.endCursor })).resource.runs;
      expect(next.nodes.map((r: Json) => r.id)).toEqual([second, first]);
      expect(next.pageInfo.hasNextPage).toBe(false);
      const ready = (await data(freshnessQuery, { name: 'fresh_a', status: ['READY'] })).resource.runs;
      expect(ready.nodes.map((r: Json) => r.id)).toEqual([second, first]);

      const recovered = (await data(freshnessQuery, { name: 'fresh_b' })).resource.freshness;
      expect(recovered).toMatchObject({ status: 'SUCCEEDED', rowsWritten: 7, lastError: 'boom' });
      const never = (await data(freshnessQuery, { name: 'fresh_never' })).resource;
      expect(never.freshness).toEqual({
        status: 'NEVER_SUCCEEDED', lagSeconds: null, lastSuccessAt: null, rowsRead: null, rowsWritten: null, lastError: null, lastSuccess: null, lastRun: null, lastFailure: null,
      });
      expect(never.runs).toEqual({ nodes: [], pageInfo: { hasNextPage: false, endCursor: null } });
    });
  });

  it('issues the same few registry queries for 10 or 100 nodes (loaders, no N+1)', async () => {
    await apply([
      ...(await readDefinitionFiles('definitions/examples')).resources,
      ...Array.from({ length: 100 }, (_, i) => ({
        kind: 'feature',
        name: `nplus_${i}`,
        entity: i % 2 ? 'user' : 'merchant',
        source: i % 3 ? 'transactions' : 'merchant_daily',
        column: 'amount',
        valueType: 'float',
        tags: ['nplus'],
        ...(i % 4 ? { onlineProvider: 'online' } : {}),
      })),
      { kind: 'feature_service', name: 'nplus_service', features: Array.from({ length: 100 }, (_, i) => `nplus_${i}`) },
    ]);
    const query = `query($first: Int!) { search(tags: ["nplus"], kinds: [FEATURE], first: $first) { totalCount nodes {
      id isDefaultVariant variants { id } provider { name } upstream { id } downstream { id }
      ... on Feature {
        entity { name features { id } }
        source { id provider { name } ... on Transformation { inputs { id } } }
        onlineProvider { name }
        trainingSets { name } featureServices { name features { id } }
        freshness { status lastSuccess { id } } runs(first: 2) { nodes { id } }
      }
    } } }`;
    // Count the statements this request issues (AsyncLocalStorage follows it through every callback), not
    // those of background work sharing the database (catalog reloads, a coordinator).
    const request = new AsyncLocalStorage<true>();
    const db = t.db as { query: (...args: any[]) => Promise<any> };
    const original = db.query;
    const statements: string[] = [];
    db.query = (text: string, params?: unknown[]) => {
      if (request.getStore()) statements.push(text);
      return original(text, params);
    };
    const count = async (first: number) => {
      statements.length = 0;
      const d = await request.run(true, () => data(query, { first }));
      expect(d.search.nodes).toHaveLength(first);
      return statements.length;
    };
    try {
      await count(1); // warms the API key cache
      const ten = await count(10);
      const hundred = await count(100);
      // One query per field level, not per node. (100 nodes may even need fewer: the feature service's features
      // are then all among the search hits; on Postgres, answers arriving apart can split a level in two.)
      expect(Math.abs(hundred - ten)).toBeLessThanOrEqual(2);
      expect(hundred).toBeLessThanOrEqual(14);
      console.log(`[graphql n+1] ${flavour}: ${hundred} registry queries for 100 nodes, ${ten} for 10`);
    } finally {
      db.query = original;
    }
  });

  describe('auth and request errors', () => {
    it('needs an API key with the read scope', async () => {
      const q = `{ search { totalCount } }`;
      for (const headers of [{}, { authorization: 'Bearer trl_nope' }, { authorization: 'Basic abc' }]) {
        const res = await gql(q, undefined, headers);
        expect(res.status).toBe(401);
        expect(res.body).toEqual({ errors: [{ message: 'Missing or invalid API key', extensions: { code: 'TRELLIS_ERR_UNAUTHENTICATED' } }] });
      }
      const serveOnly = await t.keys.create({ name: 'server', scopes: ['serve'] });
      const denied = await gql(q, undefined, { authorization: `Bearer ${serveOnly.key}` });
      expect(denied.status).toBe(403);
      expect(denied.body.errors[0].extensions.code).toBe('TRELLIS_ERR_FORBIDDEN');
      const reader = await t.keys.create({ name: 'reader', scopes: ['read'] });
      const ok = await gql(q, undefined, { 'x-api-key': reader.key });
      expect(ok.status).toBe(200);
      expect(ok.body.data.search.totalCount).toBeGreaterThan(0);
      const viaGet = await t.app.inject({ method: 'GET', url: `/graphql?query=${encodeURIComponent(q)}`, headers: { authorization: `Bearer ${reader.key}` } });
      expect(viaGet.json().data.search.totalCount).toBe(ok.body.data.search.totalCount);
      const getWithoutKey = await t.app.inject({ method: 'GET', url: `/graphql?query=${encodeURIComponent(q)}` });
      expect(getWithoutKey.statusCode).toBe(401);
    });

    it('answers malformed requests with TRELLIS_ERR_VALIDATION and no data', async () => {
      const cases: [string, unknown, string][] = [
        ['syntax', { query: '{ search { ' }, '/query'],
        ['unknown field', { query: '{ search { nope } }' }, '/query'],
        ['bad variable', { query: 'query($n: Int!) { search(first: $n) { totalCount } }', variables: { n: 'many' } }, '/variables'],
        ['batched queries', [{ query: '{ search { totalCount } }' }, { query: '{ search { totalCount } }' }], '/'],
      ];
      for (const [label, payload, pointer] of cases) {
        const res = await t.app.inject({ method: 'POST', url: '/graphql', headers: t.auth, payload: payload as Json });
        expect(res.statusCode, label).toBe(400);
        const body = res.json();
        expect(body.data, label).toBeUndefined();
        expect(body.errors[0].extensions, label).toMatchObject({ code: 'TRELLIS_ERR_VALIDATION', pointer });
      }
    });

    it('serves no GraphiQL unless configured, and keeps /graphql out of the OpenAPI document', async () => {
      expect((await t.app.inject({ method: 'GET', url: '/graphiql' })).statusCode).toBe(404);
      const paths = Object.keys((t.app as unknown as { swagger: () => { paths: Json } }).swagger().paths);
      expect(paths.some((p) => p.startsWith('/graphql'))).toBe(false);
    });
  });
});

describe.each(registryFlavours)('graphql limits on %s', (flavour) => {
  let t: TestTrellis;
  const gql = async (query: string, variables?: Json) => {
    const res = await t.app.inject({ method: 'POST', url: '/graphql', headers: t.auth, payload: { query, ...(variables ? { variables } : {}) } });
    return { status: res.statusCode, body: res.json() as Json };
  };

  beforeAll(async () => {
    t = await openTestTrellis(flavour, { graphql: { maxDepth: 6, maxComplexity: 300, graphiql: true }, ...noCoordinator }, { verifySources: false });
    await t.registry.apply(diamond, { actor: 'test' });
  });
  afterAll(async () => {
    await t?.close();
  });

  it('refuses a query deeper than graphql.maxDepth before running it', async () => {
    const ok = await gql(`{ resource(kind: SOURCE, name: "events") { provider { provider { provider { provider { id } } } } } }`);
    expect(ok.status).toBe(200);
    const deep = await gql(`query Deep { resource(kind: SOURCE, name: "events") { provider { provider { provider { provider { provider { id } } } } } } }`);
    expect(deep.status).toBe(400);
    expect(deep.body.data).toBeUndefined();
    expect(deep.body.errors).toHaveLength(1);
    expect(deep.body.errors[0].extensions).toEqual({ code: 'TRELLIS_ERR_QUERY_TOO_DEEP', limit: 'maxDepth', max: 6, actual: 7 });
    expect(deep.body.errors[0].message).toBe('GraphQL operation Deep is too deep: depth 7 exceeds the limit of 6');
    // a fragment counts where it is spread
    const viaFragment = await gql(`{ resource(kind: SOURCE, name: "events") { ...Up } } fragment Up on Resource { provider { provider { provider { provider { provider { id } } } } } }`);
    expect(viaFragment.body.errors[0].extensions).toMatchObject({ code: 'TRELLIS_ERR_QUERY_TOO_DEEP', limit: 'maxDepth', actual: 7 });
  });

  it('refuses a query costlier than graphql.maxComplexity: lists multiply by their page size', async () => {
    // search 1 + 100 nodes × (1 + id + name) = 301
    const costly = await gql(`{ search(first: 100) { nodes { id name } } }`);
    expect(costly.status).toBe(400);
    expect(costly.body.errors[0].extensions).toEqual({ code: 'TRELLIS_ERR_QUERY_TOO_COMPLEX', limit: 'maxComplexity', max: 300, actual: 301 });
    expect(costly.body.errors[0].message).toBe('GraphQL operation anonymous is too costly: complexity 301 exceeds the limit of 300');
    expect((await gql(`{ search(first: 99) { nodes { id name } } }`)).status).toBe(200);
    // a variable page size counts as the largest page unless it has a default
    expect((await gql(`query($n: Int) { search(first: $n) { nodes { id name } } }`, { n: 5 })).status).toBe(400);
    expect((await gql(`query($n: Int = 5) { search(first: $n) { nodes { id name } } }`, { n: 5 })).status).toBe(200);
    // lists without a page size count as 10: 1 + 20 × (1 + 1 + 10 × (1 + 1)) = 441
    const nested = await gql(`{ search { nodes { id upstream { id } } } }`);
    expect(nested.body.errors[0].extensions).toMatchObject({ code: 'TRELLIS_ERR_QUERY_TOO_COMPLEX', limit: 'maxComplexity', actual: 441 });
    // fragments on different types of one node cost the dearest of them (1 + 30 × 7), not their sum (1 + 30 × 17)
    const fragments = await gql(`{ search(first: 30) { nodes {
      ... on Feature { entity { name } source { name } ttl column }
      ... on Label { entity { name } source { name } column }
      ... on Source { table provider { name } }
      ... on TrainingSet { label { name } }
    } } }`);
    expect(fragments.body.errors, JSON.stringify(fragments.body.errors)).toBeUndefined();
    expect((await gql(`{ search(first: 3) { nodes { __typename id } } }`)).body.data.search.nodes).toHaveLength(3);
  });

  it('lets the standard introspection query through but not a nested one', async () => {
    const { getIntrospectionQuery } = await import('graphql/index.js');
    const introspection = await gql(getIntrospectionQuery());
    expect(introspection.status).toBe(200);
    expect(introspection.body.data.__schema.types.length).toBeGreaterThan(20);
    const abusive = await gql(`{ __schema { types { fields { type { fields { type { fields { name } } } } } } } }`);
    expect(abusive.status).toBe(400);
    expect(abusive.body.errors[0].extensions).toMatchObject({ code: 'TRELLIS_ERR_QUERY_TOO_DEEP', limit: 'introspection' });
  });

  it('serves GraphiQL when configured', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/graphiql' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toContain('text/html');
  });
});
