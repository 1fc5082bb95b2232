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
 * TRELLIS_BENCH_REGISTRIES=postgres,pglite; TRELLIS_BENCH_MODES=cold,cached (result cache off / on);
 * TRELLIS_BENCH_SECONDS (default 10) per run; TRELLIS_BENCH_WORKLOADS=search,lineage (name prefixes);
 * TRELLIS_BENCH_CPU_PROF=dir to write a V8 CPU profile of each server process there;
 * TRELLIS_BENCH_CONNECTIONS=1,10; TRELLIS_BENCH_NO_README=1 to only print; TRELLIS_BENCH_KEEP_DB=1 to keep the
 * Postgres database (named in the output) for EXPLAIN; TRELLIS_BENCH_REUSE=1 to seed once and reuse the seeded
 * registry on later runs (Postgres database `trellis_bench_graphql_seeded`, PGlite directory
 * `$TMPDIR/trellis-bench-graphql-pglite`; kept after the run; seeded again when it does not hold the bench's
 * resources).
 */
import { fork } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
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
/** `cold`: graphql.resultCache 0, every request runs its registry statements; `cached`: the default result cache. */
type Mode = 'cold' | 'cached';
const modes = (process.env.TRELLIS_BENCH_MODES ?? 'cold,cached').split(',') as Mode[];
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
  /** How many different variable sets `variables` rotates over. */
  readonly distinct: number;
}

interface Served {
  readonly address: string;
  readonly adminKey: string;
  /** Null when a seeded registry was reused. */
  readonly seedSeconds: number | null;
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
  const only = process.env.TRELLIS_BENCH_WORKLOADS?.split(',');
  return [
    { name: 'search (20 hits, ranked, totalCount)', query: SEARCH, variables: () => next(searches), distinct: searches.length },
    { name: 'lineage depth 3, both ways, from a feature', query: LINEAGE, variables: () => ({ kind: 'FEATURE', name: next(features), direction: 'BOTH' }), distinct: features.length },
    { name: 'lineage depth 3, downstream, from a source', query: LINEAGE, variables: () => ({ kind: 'SOURCE', name: next(sources), direction: 'DOWNSTREAM' }), distinct: sources.length },
  ].filter((w) => !only || only.some((prefix) => w.name.startsWith(prefix)));
}

// ---------------------------------------------------------------------------------------------- measuring
interface Row {
  registry: string;
  mode: Mode;
  /** 1-minute load average when the row finished. */
  load: number;
  /** Server process CPU ms per request (with PGlite this includes the database). */
  cpuPerRequest: number;
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

const reuse = process.env.TRELLIS_BENCH_REUSE === '1';
const PGLITE_SEEDED_DIR = path.join(os.tmpdir(), 'trellis-bench-graphql-pglite');
/** How many resources the bench applies (2 providers + the counts). */
const SEEDED_RESOURCES = 2 + Object.values(COUNTS).reduce((a, b) => a + b, 0);

async function open(registry: 'postgres' | 'pglite', mode: Mode): Promise<{ trellis: Trellis; adminKey: string; drop: () => Promise<void> }> {
  const adminKey = ApiKeyStore.generate().key;
  let databaseUrl: string | null = null;
  let dataDir = ':memory:';
  let drop = async () => {};
  if (registry === 'pglite' && reuse) dataDir = PGLITE_SEEDED_DIR;
  if (registry === 'postgres') {
    const name = reuse ? 'trellis_bench_graphql_seeded' : `trellis_bench_graphql_${process.pid}`;
    const admin = new pg.Client({ connectionString: pgUrl });
    await admin.connect();
    const exists = (await admin.query('select 1 from pg_database where datname = $1', [name])).rowCount === 1;
    if (!reuse || !exists) {
      await admin.query(`drop database if exists ${name}`);
      await admin.query(`create database ${name}`);
    }
    await admin.end();
    const url = new URL(pgUrl);
    url.pathname = `/${name}`;
    databaseUrl = url.toString();
    drop = async () => {
      if (reuse || process.env.TRELLIS_BENCH_KEEP_DB === '1') return console.log(`kept ${databaseUrl}`);
      const c = new pg.Client({ connectionString: pgUrl });
      await c.connect();
      await c.query(`drop database if exists ${name} with (force)`);
      await c.end();
    };
  }
  // Measure discovery alone: no coordinator executing the runs that applying 10,000 resources queues.
  const noCoordinator = 'coordinator' in ConfigSchema.properties ? { coordinator: { enabled: false } } : {};
  const graphql = mode === 'cold' ? { graphql: { resultCache: 0 } } : {};
  // The bench's tables exist in no warehouse: skip apply-time source checks.
  const trellis = await openTrellis(loadConfig({ logLevel: 'silent', dataDir, databaseUrl, adminKey, ...noCoordinator, ...graphql }, {}), { verifySources: false });
  return { trellis, adminKey, drop };
}

/** Child process: seeds a registry, listens, reports `Served` to the parent and closes when told to. */
async function serve(registry: 'postgres' | 'pglite', mode: Mode): Promise<void> {
  const { trellis, adminKey, drop } = await open(registry, mode);
  const count = async () => Number((await trellis.db.query<{ n: string }>('select count(*) as n from resources')).rows[0]!.n);
  const started = performance.now();
  // Seeding is deterministic: a reused registry holding exactly the bench's resources needs none.
  const seeded = reuse && (await count()) === SEEDED_RESOURCES;
  if (reuse && !seeded && (await count()) > 0) await trellis.db.exec('truncate resources, lineage_edges, runs, audit_log cascade');
  if (!seeded) for (const batch of registryBatches()) await trellis.registry.apply(batch, { actor: 'bench' });
  const seedSeconds = seeded ? null : (performance.now() - started) / 1000;
  // A registry in use has planner statistics; right after a bulk load autovacuum has not gathered them yet.
  await trellis.db.query('analyze');
  const names = async (kind: string) => (await trellis.db.query<{ name: string }>(`select name from resources where kind = $1 order by seq limit 200`, [kind])).rows.map((r) => r.name);
  const served: Served = {
    address: await trellis.app.listen({ host: '127.0.0.1', port: 0 }),
    adminKey,
    seedSeconds,
    resources: await count(),
    features: await names('feature'),
    sources: await names('source'),
  };
  process.on('message', (message) => {
    // `cpu`: the server process's CPU time so far (with PGlite, the database's too); anything else: stop.
    if (message === 'cpu') return void process.send!({ cpu: process.cpuUsage() });
    void trellis
      .close()
      .then(drop)
      .finally(() => process.exit(0));
  });
  process.send!(served);
}

async function bench(registry: 'postgres' | 'pglite', mode: Mode): Promise<{ rows: Row[]; seedSeconds: number | null; resources: number }> {
  const profile = process.env.TRELLIS_BENCH_CPU_PROF;
  const child = fork(fileURLToPath(import.meta.url), ['serve', registry, mode], {
    stdio: 'inherit',
    execArgv: profile ? ['--cpu-prof', `--cpu-prof-dir=${profile}`] : [],
  });
  const exited = once(child, 'exit');
  try {
    const [served] = (await Promise.race([once(child, 'message'), exited.then(() => Promise.reject(new Error(`${registry} server exited`)))])) as [Served];
    console.log(`[${registry} ${mode}] ${served.resources} resources ${served.seedSeconds === null ? 'reused' : `applied in ${served.seedSeconds.toFixed(1)} s`}`);
    const headers = { authorization: `Bearer ${served.adminKey}`, 'content-type': 'application/json' };
    const rows: Row[] = [];
    for (const workload of workloads(served)) {
      // Sequential requests: warm up (with the result cache, every variable set once, so that the runs measure
      // hits) and check the answers are free of errors.
      let nodes = 0;
      const warmUp = mode === 'cached' ? Math.max(20, workload.distinct) : 20;
      for (let i = 0; i < warmUp; i++) {
        const res = await fetch(`${served.address}/graphql`, { method: 'POST', headers, body: JSON.stringify({ query: workload.query, variables: workload.variables() }) });
        const body = (await res.json()) as { data?: Record<string, { nodes?: unknown[]; edges?: unknown[] }>; errors?: unknown[] };
        if (res.status !== 200 || body.errors) throw new Error(`${workload.name}: ${res.status} ${JSON.stringify(body.errors)}`);
        const result = Object.values(body.data ?? {})[0];
        nodes += (result?.nodes ?? result?.edges ?? []).length;
      }
      const serverCpu = async () => {
        const reply = once(child, 'message');
        child.send('cpu');
        const [{ cpu }] = (await reply) as [{ cpu: NodeJS.CpuUsage }];
        return (cpu.user + cpu.system) / 1000;
      };
      for (const connections of connectionsList) {
        const cpuBefore = await serverCpu();
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
        const cpuMs = (await serverCpu()) - cpuBefore;
        const row: Row = {
          registry,
          mode,
          load: os.loadavg()[0]!,
          cpuPerRequest: result.requests.total > 0 ? cpuMs / result.requests.total : 0,
          workload: workload.name,
          connections,
          p50: result.latency.p50,
          p90: result.latency.p90,
          p99: result.latency.p99,
          max: result.latency.max,
          rps: Math.round(result.requests.average),
          errors: result.non2xx + result.errors + result.timeouts,
          nodes: Math.round(nodes / warmUp),
        };
        rows.push(row);
        console.log(`[${registry} ${mode}] ${workload.name}, ${connections} conn: p50 ${row.p50} ms, p90 ${row.p90} ms, p99 ${row.p99} ms, max ${row.max} ms, ${row.rps} req/s, ${row.errors} errors, ~${row.nodes} nodes/answer, server CPU ${row.cpuPerRequest.toFixed(2)} ms/req, load ${row.load.toFixed(1)}`);
      }
    }
    return { rows, seedSeconds: served.seedSeconds, resources: served.resources };
  } finally {
    if (child.connected) child.send('stop');
    await exited;
  }
}

/** The previous results, kept as one line when the table is rewritten (update it by hand when re-running). */
const PREVIOUS =
  'Previous (2026-11-23 15:52 UTC, load ~1, no result cache, unpaged lineage): ' +
  'Postgres p50/p99 at 1 connection 4–8 / 13–15 ms, at 10 connections 25–45 / 59–86 ms; PGlite 4–11 / 8–18 ms and 41–101 / 90–228 ms.';

function readmeSection(results: { registry: string; mode: Mode; rows: Row[]; seedSeconds: number | null; resources: number }[]): string {
  const rows = results.flatMap((r) => r.rows);
  const loads = rows.map((r) => r.load);
  const single = rows.filter((r) => r.connections === 1);
  const many = rows.filter((r) => r.connections > 1);
  const verdict = (subset: Row[]) => {
    const missed = subset.filter((r) => r.p99 >= 20);
    return missed.length === 0 ? 'met' : `met ${subset.length - missed.length} of ${subset.length}`;
  };
  const lines = [
    '## GraphQL',
    '',
    `\`bench/graphql/graphql-bench.ts\`: ${(results[0]?.resources ?? 10000).toLocaleString('en')} registered resources (50 entities, 500 sources, 500 transformations,`,
    '6,950 features, 200 labels, 1,000 training sets, 798 feature services); autocannon against a listening server in a',
    `child process, ${seconds} s per row, variables rotating (7 search terms matching 180–2,300 resources; 200 lineage roots).`,
    '**cold** = `graphql.resultCache: 0` (every request runs its registry statements and executes); **cached** = the',
    'default result cache, cleared on every registry change: these queries are registry-only, so whole answers are',
    'served before execution (the rotating variables all hit it after warm-up). Target p99 < 20 ms.',
    `Latencies ms (1 ms resolution); CPU = server process ms/request (PGlite: database included). ${os.cpus().length} × ${os.cpus()[0]?.model ?? 'unknown CPU'},`,
    `Node ${process.version}, load generator, server and Postgres on the same cores. Run ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC,`,
    `1-minute load average ${loadBefore} before, ${Math.min(...loads).toFixed(1)}–${Math.max(...loads).toFixed(1)} during (machine shared with other work).`,
    '',
    '| registry | query | cache | conn | p50 | p99 | max | req/s | CPU | nodes |',
    '|---|---|---|---:|---:|---:|---:|---:|---:|---:|',
    ...rows.map((r) => `| ${r.registry} | ${r.workload} | ${r.mode} | ${r.connections} | ${r.p50} | ${r.p99} | ${r.max} | ${r.rps} | ${r.cpuPerRequest.toFixed(2)} | ${r.nodes ?? ''} |`),
    '',
    `p99 < 20 ms: 1 connection ${verdict(single)} (cold ${verdict(single.filter((r) => r.mode === 'cold'))}, cached ${verdict(single.filter((r) => r.mode === 'cached'))}); ` +
      `${many[0]?.connections ?? 10} connections ${verdict(many)} (cold ${verdict(many.filter((r) => r.mode === 'cold'))}, cached ${verdict(many.filter((r) => r.mode === 'cached'))}). Errors: ${rows.reduce((n, r) => n + r.errors, 0)}.`,
    ...results.filter((r) => r.seedSeconds !== null).map((r) => `Seeding through \`registry.apply\` took ${r.seedSeconds!.toFixed(1)} s on ${r.registry}.`),
    '',
    PREVIOUS,
    '',
    `Reproduce: \`npm run build --silent && TRELLIS_BENCH_REUSE=1 TRELLIS_BENCH_SECONDS=${seconds} node dist/bench/graphql/graphql-bench.js\` (options in the file header; seeding the reused registry once took 129 s on Postgres, 334 s on PGlite).`,
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
  await serve(process.argv[3] as 'postgres' | 'pglite', process.argv[4] as Mode);
} else {
  const results = [];
  for (const registry of registries) for (const mode of modes) results.push({ registry, mode, ...(await bench(registry, mode)) });
  if (process.env.TRELLIS_BENCH_NO_README !== '1') {
    writeReadme(readmeSection(results));
    console.log('bench/README.md: GraphQL section written');
  }
}
