/**
 * GraphQL discovery benchmark (not a test): 10,000 registered resources, then `search` and depth-3 `lineage`
 * queries with autocannon against a listening server, on Postgres and on embedded PGlite. The server (with
 * PGlite, the database too) runs in a child process, so the load generator does not share its event loop.
 * Writes the "GraphQL" section of bench/README.md (and only that section); run from the repository root.
 *
 *   npm run build --silent && node dist/bench/graphql/graphql-bench.js
 *
 * Options (environment): TRELLIS_BENCH_PG_URL — a Postgres server URL (default: the test server,
 * postgres://postgres:trellis@127.0.0.1:55432/postgres; a fresh database is created and dropped);
 * TRELLIS_BENCH_REGISTRIES=postgres,pglite; TRELLIS_BENCH_SECONDS (default 10) per run;
 * TRELLIS_BENCH_CONNECTIONS=1,10; TRELLIS_BENCH_NO_README=1 to only print; TRELLIS_BENCH_KEEP_DB=1 to keep the
 * Postgres database (named in the output) for EXPLAIN.
 */
import { fork } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { ApiKeyStore } from '../../src/auth/api-keys.js';
import { ConfigSchema } from '../../src/config/config-schema.js';
import { loadConfig } from '../../src/config/load-config.js';
import { openTrellis, type Trellis } from '../../src/trellis.js';

/** The part of autocannon's API used here (it ships no types). */
interface AutocannonResult {
  latency: { p50: number; p90: number; p99: number; average: number; max: number };
  requests: { average: number; total: number };
  non2xx: number;
  errors: number;
  timeouts: number;
}
interface AutocannonRequest {
  method: string;
  path: string;
  headers: Record<string, string>;
  setupRequest: (request: { body?: string }) => { body: string };
}
type Autocannon = (options: { url: string; connections: number; duration: number; requests: AutocannonRequest[] }) => Promise<AutocannonResult>;
const autocannon = createRequire(import.meta.url)('autocannon') as Autocannon;

const seconds = Number(process.env.TRELLIS_BENCH_SECONDS ?? 10);
const connectionsList = (process.env.TRELLIS_BENCH_CONNECTIONS ?? '1,10').split(',').map(Number);
const registries = (process.env.TRELLIS_BENCH_REGISTRIES ?? 'postgres,pglite').split(',') as ('postgres' | 'pglite')[];
const pgUrl = process.env.TRELLIS_BENCH_PG_URL ?? process.env.TRELLIS_TEST_PG_URL ?? 'postgres://postgres:trellis@127.0.0.1:55432/postgres';

// ---------------------------------------------------------------------------------------------- the registry
const WORDS = [
  'payment', 'fraud', 'merchant', 'user', 'session', 'click', 'order', 'refund', 'chargeback', 'device', 'login', 'country',
  'amount', 'count', 'average', 'daily', 'weekly', 'hourly', 'risk', 'score', 'balance', 'card', 'transaction', 'velocity',
  'geo', 'email', 'account', 'loyalty', 'basket', 'delivery', 'return', 'coupon', 'search', 'page', 'view', 'cart',
];
const TEAMS = ['risk', 'payments-data', 'growth', 'marketing', 'ops', 'ml-platform', 'search', 'ads', 'support', 'finance'];
const TAGS = ['payments', 'risk', 'growth', 'marketing', 'ops', 'pii-free', 'core', 'experimental'];
let seed = 42;
const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)]!;
const sentence = (n: number) => Array.from({ length: n }, () => pick(WORDS)).join(' ');
const meta = () => ({ owner: pick(TEAMS), tags: [...new Set([pick(TAGS), pick(TAGS)])], description: `The ${sentence(6)} of the ${pick(WORDS)}` });

const COUNTS = { entities: 50, sources: 500, transformations: 500, features: 6950, labels: 200, trainingSets: 1000, featureServices: 798 };

/** 10,000 resources in dependency order, as apply batches. */
function registryBatches(): unknown[][] {
  const base: unknown[] = [
    { kind: 'provider', name: 'wh', type: 'duckdb', roles: ['offline'], config: { path: 'bench.duckdb' } },
    { kind: 'provider', name: 'kv', type: 'embedded', roles: ['online'] },
    ...Array.from({ length: COUNTS.entities }, (_, i) => ({ kind: 'entity', name: `entity_${i}`, keys: [{ name: `key_${i}`, type: 'string' }], ...meta() })),
    ...Array.from({ length: COUNTS.sources }, (_, i) => ({ kind: 'source', name: `src_${pick(WORDS)}_${i}`, provider: 'wh', table: `t_${i}`, timestampColumn: 'ts', ...meta() })),
  ];
  const sources = base.slice(2 + COUNTS.entities).map((s) => (s as { name: string }).name);
  const transformations = Array.from({ length: COUNTS.transformations }, (_, i) => ({
    kind: 'transformation',
    name: `tx_${pick(WORDS)}_${i}`,
    provider: 'wh',
    sql: `SELECT * FROM {{ ${pick(sources)} }} JOIN {{ ${pick(sources)} }} USING (key)`,
    timestampColumn: 'ts',
    ...meta(),
  }));
  const inputs = [...sources, ...transformations.map((t) => t.name)];
  const features = Array.from({ length: COUNTS.features }, (_, i) => ({
    kind: 'feature',
    name: `${pick(WORDS)}_${pick(WORDS)}_${pick(['sum', 'avg', 'count', 'last'])}_${i}`,
    entity: `entity_${i % COUNTS.entities}`,
    source: pick(inputs),
    column: `c_${i % 40}`,
    valueType: 'float',
    ...(i % 3 === 0 ? { onlineProvider: 'kv' } : {}),
    ...meta(),
  }));
  const labels = Array.from({ length: COUNTS.labels }, (_, i) => ({
    kind: 'label',
    name: `label_${pick(WORDS)}_${i}`,
    entity: `entity_${i % COUNTS.entities}`,
    source: pick(sources),
    column: 'y',
    valueType: 'bool',
    ...meta(),
  }));
  const featureNames = features.map((f) => f.name);
  const trainingSets = Array.from({ length: COUNTS.trainingSets }, (_, i) => ({
    kind: 'training_set',
    name: `ts_${pick(WORDS)}_${i}`,
    label: pick(labels).name,
    features: [...new Set(Array.from({ length: 5 }, () => pick(featureNames)))],
    ...meta(),
  }));
  const services = Array.from({ length: COUNTS.featureServices }, (_, i) => ({
    kind: 'feature_service',
    name: `model_${pick(WORDS)}_${i}`,
    features: [...new Set(Array.from({ length: 8 }, () => pick(featureNames)))],
    ...meta(),
  }));
  const chunks = <T>(xs: T[], size: number) => Array.from({ length: Math.ceil(xs.length / size) }, (_, i) => xs.slice(i * size, (i + 1) * size));
  return [base, transformations, ...chunks([...features, ...labels], 1000), ...chunks([...trainingSets, ...services], 1000)];
}

// ---------------------------------------------------------------------------------------------- the workloads
const SEARCH = `query Search($q: String, $kinds: [ResourceKind!]) {
  search(query: $q, kinds: $kinds, first: 20) {
    totalCount pageInfo { hasNextPage endCursor }
    edges { rank node { id kind name owner description tags } }
  }
}`;
const LINEAGE = `query Lineage($kind: ResourceKind!, $name: String!, $direction: LineageDirection!) {
  lineage(kind: $kind, name: $name, direction: $direction, depth: 3) {
    nodes { distance position resource { id kind name } }
    edges { from { id } to { id } }
  }
}`;

interface Workload {
  readonly name: string;
  readonly query: string;
  readonly variables: () => Record<string, unknown>;
}

interface Served {
  readonly address: string;
  readonly adminKey: string;
  readonly seedSeconds: number;
  readonly resources: number;
  readonly features: string[];
  readonly sources: string[];
}

function workloads({ features, sources }: Served): Workload[] {
  const searches = [
    { q: 'fraud amount' },
    { q: 'merchant' },
    { q: 'daily velocity', kinds: ['FEATURE'] },
    { q: 'card risk score' },
    { q: 'chargebacks' },
    { q: 'user sess' },
    { q: 'loyalty', kinds: ['TRAINING_SET', 'FEATURE_SERVICE'] },
  ];
  let i = 0;
  const next = <T>(xs: readonly T[]) => xs[i++ % xs.length]!;
  return [
    { name: 'search (20 hits, ranked, totalCount)', query: SEARCH, variables: () => next(searches) },
    { name: 'lineage depth 3, both ways, from a feature', query: LINEAGE, variables: () => ({ kind: 'FEATURE', name: next(features), direction: 'BOTH' }) },
    { name: 'lineage depth 3, downstream, from a source', query: LINEAGE, variables: () => ({ kind: 'SOURCE', name: next(sources), direction: 'DOWNSTREAM' }) },
  ];
}

// ---------------------------------------------------------------------------------------------- measuring
interface Row {
  registry: string;
  workload: string;
  connections: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  rps: number;
  errors: number;
  nodes?: number;
}

async function open(registry: 'postgres' | 'pglite'): Promise<{ trellis: Trellis; adminKey: string; drop: () => Promise<void> }> {
  const adminKey = ApiKeyStore.generate().key;
  let databaseUrl: string | null = null;
  let drop = async () => {};
  if (registry === 'postgres') {
    const name = `trellis_bench_graphql_${process.pid}`;
    const admin = new pg.Client({ connectionString: pgUrl });
    await admin.connect();
    await admin.query(`drop database if exists ${name}`);
    await admin.query(`create database ${name}`);
    await admin.end();
    const url = new URL(pgUrl);
    url.pathname = `/${name}`;
    databaseUrl = url.toString();
    drop = async () => {
      if (process.env.TRELLIS_BENCH_KEEP_DB === '1') return console.log(`kept ${databaseUrl}`);
      const c = new pg.Client({ connectionString: pgUrl });
      await c.connect();
      await c.query(`drop database if exists ${name} with (force)`);
      await c.end();
    };
  }
  // Measure discovery alone: no coordinator executing the runs that applying 10,000 resources queues.
  const noCoordinator = 'coordinator' in ConfigSchema.properties ? { coordinator: { enabled: false } } : {};
  const trellis = await openTrellis(loadConfig({ logLevel: 'silent', dataDir: ':memory:', databaseUrl, adminKey, ...noCoordinator }, {}));
  return { trellis, adminKey, drop };
}

/** Child process: seeds a registry, listens, reports `Served` to the parent and closes when told to. */
async function serve(registry: 'postgres' | 'pglite'): Promise<void> {
  const { trellis, adminKey, drop } = await open(registry);
  const started = performance.now();
  for (const batch of registryBatches()) await trellis.registry.apply(batch, { actor: 'bench' });
  const seedSeconds = (performance.now() - started) / 1000;
  // A registry in use has planner statistics; right after a bulk load autovacuum has not gathered them yet.
  await trellis.db.query('analyze');
  const names = async (kind: string) => (await trellis.db.query<{ name: string }>(`select name from resources where kind = $1 order by seq limit 200`, [kind])).rows.map((r) => r.name);
  const served: Served = {
    address: await trellis.app.listen({ host: '127.0.0.1', port: 0 }),
    adminKey,
    seedSeconds,
    resources: Number((await trellis.db.query<{ n: string }>('select count(*) as n from resources')).rows[0]!.n),
    features: await names('feature'),
    sources: await names('source'),
  };
  process.once('message', () => {
    void trellis
      .close()
      .then(drop)
      .finally(() => process.exit(0));
  });
  process.send!(served);
}

async function bench(registry: 'postgres' | 'pglite'): Promise<{ rows: Row[]; seedSeconds: number; resources: number }> {
  const child = fork(fileURLToPath(import.meta.url), ['serve', registry], { stdio: 'inherit' });
  const exited = once(child, 'exit');
  try {
    const [served] = (await Promise.race([once(child, 'message'), exited.then(() => Promise.reject(new Error(`${registry} server exited`)))])) as [Served];
    console.log(`[${registry}] ${served.resources} resources applied in ${served.seedSeconds.toFixed(1)} s`);
    const headers = { authorization: `Bearer ${served.adminKey}`, 'content-type': 'application/json' };
    const rows: Row[] = [];
    for (const workload of workloads(served)) {
      // A few sequential requests: warm the caches and check the answers are free of errors.
      let nodes = 0;
      for (let i = 0; i < 20; i++) {
        const res = await fetch(`${served.address}/graphql`, { method: 'POST', headers, body: JSON.stringify({ query: workload.query, variables: workload.variables() }) });
        const body = (await res.json()) as { data?: Record<string, { nodes?: unknown[]; edges?: unknown[] }>; errors?: unknown[] };
        if (res.status !== 200 || body.errors) throw new Error(`${workload.name}: ${res.status} ${JSON.stringify(body.errors)}`);
        const result = Object.values(body.data ?? {})[0];
        nodes += (result?.nodes ?? result?.edges ?? []).length;
      }
      for (const connections of connectionsList) {
        const result = await autocannon({
          url: served.address,
          connections,
          duration: seconds,
          requests: [
            {
              method: 'POST',
              path: '/graphql',
              headers,
              setupRequest: (request) => ({ ...request, body: JSON.stringify({ query: workload.query, variables: workload.variables() }) }),
            },
          ],
        });
        const row: Row = {
          registry,
          workload: workload.name,
          connections,
          p50: result.latency.p50,
          p90: result.latency.p90,
          p99: result.latency.p99,
          max: result.latency.max,
          rps: Math.round(result.requests.average),
          errors: result.non2xx + result.errors + result.timeouts,
          nodes: Math.round(nodes / 20),
        };
        rows.push(row);
        console.log(`[${registry}] ${workload.name}, ${connections} conn: p50 ${row.p50} ms, p90 ${row.p90} ms, p99 ${row.p99} ms, max ${row.max} ms, ${row.rps} req/s, ${row.errors} errors, ~${row.nodes} nodes/answer`);
      }
    }
    return { rows, seedSeconds: served.seedSeconds, resources: served.resources };
  } finally {
    if (child.connected) child.send('stop');
    await exited;
  }
}

function readmeSection(results: { registry: string; rows: Row[]; seedSeconds: number; resources: number }[]): string {
  const lines = [
    '## GraphQL',
    '',
    `Discovery over GraphQL (\`bench/graphql/graphql-bench.ts\`): ${(results[0]?.resources ?? 10000).toLocaleString('en')} registered resources (50 entities, 500 sources,`,
    '500 transformations, 6,950 features, 200 labels, 1,000 training sets, 798 feature services), then autocannon against',
    `a listening server, ${seconds} s per row, requests rotating over several variable sets (search terms, roots).`,
    'Target: p99 < 20 ms. Latencies in ms (autocannon has 1 ms resolution).',
    '',
    `Machine: ${os.cpus().length} × ${os.cpus()[0]?.model ?? 'unknown CPU'}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}; the server runs in`,
    'a child process of the load generator, Postgres on the same machine (PGlite inside the server process).',
    `Run on ${new Date().toISOString().slice(0, 10)}; 1-minute load average ${loadBefore} before and ${os.loadavg()[0]!.toFixed(1)} after (other work shares the machine).`,
    '',
    '| registry | query | connections | p50 | p90 | p99 | max | req/s | nodes/answer | errors |',
    '|---|---|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...results.flatMap((r) =>
      r.rows.map((row) => `| ${row.registry} | ${row.workload} | ${row.connections} | ${row.p50} | ${row.p90} | ${row.p99} | ${row.max} | ${row.rps} | ${row.nodes ?? ''} | ${row.errors} |`),
    ),
    '',
    ...results.map((r) => {
      const single = r.rows.filter((row) => row.connections === 1);
      const met = single.filter((row) => row.p99 < 20).map((row) => row.workload);
      const missed = single.filter((row) => row.p99 >= 20).map((row) => `${row.workload} (${row.p99} ms)`);
      return `${r.registry}, p99 < 20 ms at 1 connection: ${met.length ? `met for ${met.join('; ')}` : 'met for none'}${missed.length ? `; not met for ${missed.join('; ')}` : ''}.`;
    }),
    '',
    'Each query is one SQL statement on the registry (a search also resolves a word it has not seen before into its',
    'tsquery, once): `search` ranks every match with `ts_rank` and counts them in the same statement, so its cost grows',
    'with the number of matches (the rotating terms match 200 to 2,300 resources); `lineage` is one statement of',
    'recursive CTEs returning nodes with their edges. Under 10 connections on 2 shared cores, latency is queueing.',
    '',
    ...results.map((r) => `Seeding ${r.resources.toLocaleString('en')} resources through \`registry.apply\` (batches of ≤ 1,000) took ${r.seedSeconds.toFixed(1)} s on ${r.registry}.`),
    '',
    'Reproduce: `npm run build --silent && node dist/bench/graphql/graphql-bench.js`',
    '(Postgres from `scripts/services/up.sh`; see the file header for options).',
    '',
  ];
  return lines.join('\n');
}

/** Replaces the "## GraphQL" section of bench/README.md (up to the next "## " heading), or appends it. Run from the repository root. */
function writeReadme(section: string): void {
  const path = 'bench/README.md';
  const current = existsSync(path) ? readFileSync(path, 'utf8') : '# Benchmarks\n\nBenchmarks are programs, not timed tests; each section is written by its benchmark.\n';
  const start = current.search(/^## GraphQL[ \t]*$/m);
  let next: string;
  if (start < 0) {
    next = `${current.trimEnd()}\n\n${section}`;
  } else {
    const afterHeading = start + '## GraphQL'.length;
    const end = current.slice(afterHeading).search(/^## /m);
    next = `${current.slice(0, start)}${section}${end < 0 ? '' : `\n${current.slice(afterHeading + end)}`}`;
  }
  writeFileSync(path, next.endsWith('\n') ? next : `${next}\n`);
}

const loadBefore = os.loadavg()[0]!.toFixed(1);
if (process.argv[2] === 'serve') {
  await serve(process.argv[3] as 'postgres' | 'pglite');
} else {
  const results = [];
  for (const registry of registries) results.push({ registry, ...(await bench(registry)) });
  if (process.env.TRELLIS_BENCH_NO_README !== '1') {
    writeReadme(readmeSection(results));
    console.log('bench/README.md: GraphQL section written');
  }
}
