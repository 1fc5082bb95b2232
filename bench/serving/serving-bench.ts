/**
 * HTTP serving benchmark: Trellis `POST /v1/features/online` vs the naive Fastify+ioredis proxy
 * (`naive-proxy.ts`: pipelined HMGET, raw cells as JSON, no auth or validation) vs Feast's Python feature server
 * (`feast serve`, `POST /get-online-features`), all on the same Redis and the same data: ENTITIES users × FEATURES
 * float features (`f<j>` of user `u<i>` = i / (j + 1), event time = base − (i % 1000) s, ttl 3650 days).
 *
 * Trellis's rows are written through its own Redis online store (so the naive proxy reads the same layout); Feast's
 * through `feast apply` + `feast materialize` from a parquet FileSource holding the same values
 * (`feast-repo.py`, run in the Feast virtualenv). Every server runs in its own child process (Trellis and the proxy
 * are one Node process each; Feast is `feast serve -w 1`); this process is the load generator (autocannon).
 * For each shape (entities × features: 1×10, 1×50, 100×50) the contenders are interleaved, ROUNDS times: a warm-up,
 * then DURATION seconds of load at CONNECTIONS connections; requests rotate over 1,024 pre-built bodies with random
 * entities (the same bodies for every contender). Reported per contender: best-of-rounds req/s, p50, p99 (autocannon
 * has 1 ms latency resolution) and server CPU ms per request (utime+stime of the server's process tree from
 * /proc: steadier than wall-clock when other work shares the cores); ratios Trellis/naive and Trellis/Feast.
 * Before the load, one request per shape is answered by every contender and the values are compared.
 *
 * Run from the repository root after `npm run build` and `bash scripts/services/up.sh`:
 *   node dist/bench/serving/serving-bench.js
 * Env: TRELLIS_BENCH_REDIS_URL (redis://127.0.0.1:56379), BENCH_DURATION_S (10), BENCH_WARMUP_S (3),
 * BENCH_CONNECTIONS (32), BENCH_ROUNDS (2), BENCH_SHAPES (e.g. `1x10,100x50`; all three by default), BENCH_ENTITIES (10000), BENCH_FEATURES (50),
 * TRELLIS_BENCH_FEAST_PYTHON (~/.cache/trellis/venv-feast/bin/python; set to "none" to skip Feast),
 * TRELLIS_BENCH_FEAST_DB (Redis db for Feast's keys, 1), BENCH_TRELLIS_NODE_ARGS (extra node flags for the Trellis
 * server only, e.g. `--max-semi-space-size=64`). Prints markdown; writes .bench-results/serving-bench.json.
 */
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { ApiKeyStore } from '../../src/auth/api-keys.js';
import { loadConfig } from '../../src/config/load-config.js';
import { decodeOnlineCell } from '../../src/spi/online-store.js';
import { openTrellis } from '../../src/trellis.js';
import { buildNaiveProxy } from './naive-proxy.js';

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
  setupRequest: (request: Record<string, unknown>) => Record<string, unknown>;
}
type Autocannon = (options: { url: string; connections: number; duration: number; requests: AutocannonRequest[] }) => Promise<AutocannonResult>;
const autocannon = createRequire(import.meta.url)('autocannon') as Autocannon;

const redisUrl = process.env.TRELLIS_BENCH_REDIS_URL ?? 'redis://127.0.0.1:56379';
const durationS = Number(process.env.BENCH_DURATION_S ?? 10);
const warmupS = Number(process.env.BENCH_WARMUP_S ?? 3);
const connections = Number(process.env.BENCH_CONNECTIONS ?? 32);
const rounds = Number(process.env.BENCH_ROUNDS ?? 2);
const ENTITIES = Number(process.env.BENCH_ENTITIES ?? 10_000);
const FEATURES = Number(process.env.BENCH_FEATURES ?? 50);
const feastPython = process.env.TRELLIS_BENCH_FEAST_PYTHON ?? path.join(os.homedir(), '.cache/trellis/venv-feast/bin/python');
const feastDb = Number(process.env.TRELLIS_BENCH_FEAST_DB ?? 1);
const TTL_DAYS = 3650;

interface Shape {
  readonly name: string;
  readonly entities: number;
  readonly features: number;
}
const allShapes: readonly Shape[] = [
  { name: '1×10', entities: 1, features: 10 },
  { name: '1×50', entities: 1, features: 50 },
  { name: '100×50', entities: 100, features: 50 },
];
const shapes = process.env.BENCH_SHAPES ? allShapes.filter((s) => process.env.BENCH_SHAPES!.split(',').includes(s.name.replace('×', 'x'))) : allShapes;
type ContenderName = 'trellis' | 'naive' | 'feast';

const featureValue = (i: number, j: number): number => i / (j + 1);

// ------------------------------------------------------------------------------------- child: a server
interface Served {
  port: number;
  key?: string;
  seedSeconds?: number;
}

async function serveTrellis(prefix: string, baseTs: number): Promise<void> {
  const adminKey = ApiKeyStore.generate().key;
  // A store deadline far above any latency here: this measures cost, not timeouts (tested in test/integration).
  const trellis = await openTrellis(loadConfig({ logLevel: 'silent', adminKey, dataDir: ':memory:', serving: { maxEntities: 1000, timeoutMs: 5000 }, coordinator: { enabled: false } }, {}), { verifySources: false }); // no warehouse table: rows go straight to Redis
  const auth = { authorization: `Bearer ${adminKey}` };
  const resources = [
    { kind: 'provider', name: 'wh', type: 'duckdb', roles: ['offline'], config: { path: 'wh.duckdb' } },
    { kind: 'provider', name: 'kv', type: 'redis', roles: ['online'], config: { url: redisUrl, keyPrefix: prefix } },
    { kind: 'entity', name: 'user', keys: [{ name: 'user_id', type: 'string' }] },
    { kind: 'source', name: 'users', provider: 'wh', table: 'users', timestampColumn: 'event_ts' },
    ...Array.from({ length: FEATURES }, (_, j) => ({ kind: 'feature', name: `f${j}`, entity: 'user', source: 'users', column: `f${j}`, valueType: 'float', ttl: `${TTL_DAYS}d`, onlineProvider: 'kv' })),
  ];
  const applied = await trellis.app.inject({ method: 'POST', url: '/v1/apply', headers: auth, payload: { resources } });
  if (applied.statusCode !== 200) throw new Error(`apply: ${applied.statusCode} ${applied.body}`);
  const started = performance.now();
  const store = await trellis.providers.online('kv@default');
  for (let j = 0; j < FEATURES; j++) {
    await store.ensureTable({ entity: 'user@default', table: `f${j}@default`, valueType: 'float', ttlSeconds: TTL_DAYS * 86_400 });
    for (let from = 0; from < ENTITIES; from += 5000) {
      const rows = Array.from({ length: Math.min(5000, ENTITIES - from) }, (_, k) => {
        const i = from + k;
        return { key: [`u${i}`], value: featureValue(i, j), eventTs: baseTs - (i % 1000) * 1000 };
      });
      await store.writeBatch('user@default', `f${j}@default`, rows);
    }
  }
  const seedSeconds = (performance.now() - started) / 1000;
  const { key } = await trellis.keys.create({ name: 'bench-serve', scopes: ['serve'] });
  await trellis.app.listen({ port: 0, host: '127.0.0.1' });
  const port = (trellis.app.server.address() as net.AddressInfo).port;
  process.send!({ port, key, seedSeconds } satisfies Served);
  await once(process, 'message');
  // Remove this run's rows (the prefix is unique to it).
  const raw = new Redis(redisUrl);
  let cursor = '0';
  do {
    const [next, keys] = await raw.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 5000);
    cursor = next;
    if (keys.length > 0) await raw.unlink(...keys);
  } while (cursor !== '0');
  await raw.quit();
  await trellis.close();
  process.exit(0);
}

async function serveNaive(prefix: string): Promise<void> {
  const app = buildNaiveProxy({ redisUrl, keyPrefix: prefix, entity: 'user@default', keyColumns: ['user_id'] });
  await app.listen({ port: 0, host: '127.0.0.1' });
  process.send!({ port: (app.server.address() as net.AddressInfo).port } satisfies Served);
  await once(process, 'message');
  await app.close();
  process.exit(0);
}

// ------------------------------------------------------------------------------------- the load generator
interface Contender {
  readonly name: ContenderName;
  readonly pid: number;
  readonly url: string;
  readonly path: string;
  readonly headers: Record<string, string>;
  body(entities: string[], features: number): string;
  /** Values of one answer as numbers (null when absent), row-major. */
  values(answer: unknown): (number | null)[][];
}

function bodies(shape: Shape): string[][] {
  let x = 987654321;
  const next = (): number => (x = (x * 1103515245 + 12345) % 2147483648);
  return Array.from({ length: 1024 }, () => Array.from({ length: shape.entities }, () => `u${next() % ENTITIES}`));
}

/** utime + stime of a process and all its descendants, ms (Linux /proc; 0 elsewhere). */
function treeCpuMs(root: number): number {
  if (!existsSync('/proc/self/stat')) return 0;
  const stats = new Map<number, { ppid: number; ticks: number }>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const text = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
      stats.set(Number(entry), { ppid: Number(fields[1]), ticks: Number(fields[11]) + Number(fields[12]) });
    } catch {
      // the process ended meanwhile
    }
  }
  const inTree = new Set([root]);
  let grew = true;
  while (grew) {
    grew = false;
    for (const [pid, s] of stats) {
      if (!inTree.has(pid) && inTree.has(s.ppid)) {
        inTree.add(pid);
        grew = true;
      }
    }
  }
  let ticks = 0;
  for (const pid of inTree) ticks += stats.get(pid)?.ticks ?? 0;
  return ticks * 10; // USER_HZ is 100 on Linux
}

interface Measured {
  rps: number;
  p50: number;
  p99: number;
  cpuMsPerReq: number;
  errors: number;
}

async function load(contender: Contender, shape: Shape, entitySets: string[][], seconds: number): Promise<Measured> {
  const encoded = entitySets.map((entities) => contender.body(entities, shape.features));
  let i = 0;
  const cpu0 = treeCpuMs(contender.pid);
  const result = await autocannon({
    url: contender.url,
    connections,
    duration: seconds,
    requests: [{ method: 'POST', path: contender.path, headers: contender.headers, setupRequest: (request) => ({ ...request, body: encoded[i++ % encoded.length] }) }],
  });
  const cpu = treeCpuMs(contender.pid) - cpu0;
  return {
    rps: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    cpuMsPerReq: result.requests.total > 0 ? cpu / result.requests.total : Number.NaN,
    errors: result.non2xx + result.errors + result.timeouts,
  };
}

async function post(contender: Contender, body: string): Promise<unknown> {
  const res = await fetch(`${contender.url}${contender.path}`, { method: 'POST', headers: contender.headers, body });
  if (res.status !== 200) throw new Error(`${contender.name}: HTTP ${res.status} ${(await res.text()).slice(0, 300)}`);
  return res.json();
}

async function startChild(args: string[], nodeArgs: string[] = []): Promise<{ child: ChildProcess; served: Served }> {
  const child = fork(fileURLToPath(import.meta.url), args, { stdio: 'inherit', execArgv: [...process.execArgv, ...nodeArgs] });
  const exited = once(child, 'exit');
  const [served] = (await Promise.race([once(child, 'message'), exited.then(() => Promise.reject(new Error(`${args[0]} server exited`)))])) as [Served];
  return { child, served };
}

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = net.createServer().listen(0, '127.0.0.1', () => {
      const port = (server.address() as net.AddressInfo).port;
      server.close(() => resolve(port));
    });
  });
}

function run(command: string, args: string[], options: { cwd?: string } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: options.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`${command} ${args.join(' ')} exited ${code}: ${err.slice(-2000)}`))));
  });
}

interface FeastSide {
  contender: Contender;
  stop(): Promise<void>;
  setup: Record<string, unknown>;
}

async function startFeast(baseTs: number): Promise<FeastSide> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'trellis-bench-feast-'));
  const project = `trellis_bench_${process.pid}`;
  const redis = new URL(redisUrl);
  const script = path.resolve('bench/serving/feast-repo.py');
  const setupOut = await run(feastPython, [script, '--dir', dir, '--redis', `${redis.hostname}:${redis.port || 6379}`, '--db', String(feastDb), '--project', project, '--entities', String(ENTITIES), '--features', String(FEATURES), '--base-ts-ms', String(baseTs), '--ttl-days', String(TTL_DAYS)]);
  const setup = JSON.parse(setupOut.trim().split('\n').pop() ?? '{}') as Record<string, unknown>;
  const port = await freePort();
  const feastCli = path.join(path.dirname(feastPython), 'feast');
  const server = spawn(feastCli, ['serve', '-h', '127.0.0.1', '-p', String(port), '--no-access-log', '-w', '1', '--max-requests', '100000000'], { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  server.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
  const contender: Contender = {
    name: 'feast',
    pid: server.pid!,
    url: `http://127.0.0.1:${port}`,
    path: '/get-online-features',
    headers: { 'content-type': 'application/json' },
    body: (entities, features) => JSON.stringify({ features: Array.from({ length: features }, (_, j) => `user_features:f${j}`), entities: { user_id: entities } }),
    values: (answer) => {
      // { metadata: { feature_names: [user_id, f0…] }, results: [{ values: [per entity], statuses, event_timestamps }, …] } — column-major
      const { metadata, results } = answer as { metadata: { feature_names: string[] }; results: { values: (number | string | null)[] }[] };
      // Columns come in Feast's order, not the request's: put them back in f0, f1, … order by name.
      const byName = new Map(metadata.feature_names.map((name, c) => [name.replace(/^user_features(:|__)/, ''), results[c]!.values]));
      const columns = Array.from({ length: byName.size - 1 }, (_, j) => ({ values: byName.get(`f${j}`) ?? [] }));
      const rows = byName.get('user_id')?.length ?? 0;
      return Array.from({ length: rows }, (_, r) => columns.map((c) => (c.values[r] === null ? null : Number(c.values[r]))));
    },
  };
  const deadline = Date.now() + 120_000;
  for (;;) {
    try {
      await post(contender, contender.body(['u1'], 1));
      break;
    } catch (error) {
      if (server.exitCode !== null || Date.now() > deadline) throw new Error(`feast serve did not come up: ${String(error)}\n${stderr}`);
      await new Promise((r) => setTimeout(r, 500));
    }
  }
  return {
    contender,
    setup: { ...setup, dir },
    async stop() {
      server.kill('SIGTERM');
      await Promise.race([once(server, 'exit'), new Promise((r) => setTimeout(r, 5000))]);
      if (server.exitCode === null) server.kill('SIGKILL');
      await run(feastCli, ['teardown'], { cwd: dir }).catch((error: unknown) => console.warn(`feast teardown: ${String(error).slice(0, 300)}`));
      await rm(dir, { recursive: true, force: true });
    },
  };
}

function sameValues(a: (number | null)[][], b: (number | null)[][]): boolean {
  return a.length === b.length && a.every((row, r) => row.length === b[r]!.length && row.every((v, c) => v === b[r]![c]));
}

const fmt = (n: number, digits = 0): string => (Number.isFinite(n) ? n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits }) : '—');

async function main(): Promise<void> {
  const prefix = `trellis:bench-serving:${process.pid}:`;
  const baseTs = Math.floor(Date.now() / 1000) * 1000 - 60_000;
  const children: ChildProcess[] = [];
  let feast: FeastSide | null = null;
  let feastProblem: string | null = null;
  try {
    const trellis = await startChild(['trellis', prefix, String(baseTs)], (process.env.BENCH_TRELLIS_NODE_ARGS ?? '').split(' ').filter(Boolean));
    children.push(trellis.child);
    console.log(`trellis: ${ENTITIES} entities × ${FEATURES} features written through its Redis online store in ${trellis.served.seedSeconds!.toFixed(1)} s`);
    const naive = await startChild(['naive', prefix]);
    children.push(naive.child);

    const contenders: Contender[] = [
      {
        name: 'trellis',
        pid: trellis.child.pid!,
        url: `http://127.0.0.1:${trellis.served.port}`,
        path: '/v1/features/online',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${trellis.served.key}` },
        body: (entities, features) => JSON.stringify({ features: Array.from({ length: features }, (_, j) => `f${j}`), entities: entities.map((user_id) => ({ user_id })) }),
        values: (answer) => (answer as { results: { values: (number | null)[] }[] }).results.map((r) => r.values),
      },
      {
        name: 'naive',
        pid: naive.child.pid!,
        url: `http://127.0.0.1:${naive.served.port}`,
        path: '/features',
        headers: { 'content-type': 'application/json' },
        body: (entities, features) => JSON.stringify({ features: Array.from({ length: features }, (_, j) => `f${j}@default`), entities: entities.map((user_id) => ({ user_id })) }),
        values: (answer) => (answer as { values: (string | null)[][] }).values.map((row) => row.map((cell) => (cell === null ? null : (decodeOnlineCell(cell).value as number)))),
      },
    ];
    if (feastPython !== 'none') {
      try {
        const started = performance.now();
        feast = await startFeast(baseTs);
        console.log(`feast: repo applied and materialized, server up in ${((performance.now() - started) / 1000).toFixed(1)} s ${JSON.stringify(feast.setup)}`);
        contenders.push(feast.contender);
      } catch (error) {
        feastProblem = String(error instanceof Error ? error.message : error);
        console.error(`feast could not run: ${feastProblem}`);
      }
    }

    // Same answers from everyone, and what they should be.
    for (const shape of shapes) {
      const entities = [...bodies(shape)[0]!.slice(0, shape.entities - 1), 'nobody'];
      const expected = entities.map((id) => Array.from({ length: shape.features }, (_, j) => (id === 'nobody' ? null : featureValue(Number(id.slice(1)), j))));
      for (const c of contenders) {
        const got = c.values(await post(c, c.body(entities, shape.features)));
        if (!sameValues(got, expected)) throw new Error(`${c.name} answered ${shape.name} with other values: ${JSON.stringify(got).slice(0, 300)} vs ${JSON.stringify(expected).slice(0, 300)}`);
      }
    }
    console.log(`answers agree across ${contenders.map((c) => c.name).join(', ')}`);

    const results: { shape: string; contender: ContenderName; round: number; measured: Measured }[] = [];
    const best = new Map<string, Measured>();
    for (const shape of shapes) {
      const entitySets = bodies(shape);
      for (let round = 0; round < rounds; round++) {
        for (const c of contenders) {
          await load(c, shape, entitySets, warmupS);
          const m = await load(c, shape, entitySets, durationS);
          results.push({ shape: shape.name, contender: c.name, round, measured: m });
          console.log(`${shape.name} round ${round + 1} ${c.name}: ${fmt(m.rps)} req/s, p50 ${m.p50} ms, p99 ${m.p99} ms, ${fmt(m.cpuMsPerReq, 3)} CPU ms/req, ${m.errors} errors`);
          const key = `${shape.name}/${c.name}`;
          const prev = best.get(key);
          best.set(key, prev === undefined ? { ...m } : { rps: Math.max(prev.rps, m.rps), p50: Math.min(prev.p50, m.p50), p99: Math.min(prev.p99, m.p99), cpuMsPerReq: Math.min(prev.cpuMsPerReq, m.cpuMsPerReq), errors: prev.errors + m.errors });
        }
      }
    }

    const lines = [
      '| shape | contender | req/s | p50 ms | p99 ms | server CPU ms/req | errors | req/s vs Trellis… | p99 vs Trellis… | CPU vs Trellis… |',
      '|---|---|---|---|---|---|---|---|---|---|',
    ];
    for (const shape of shapes) {
      const t = best.get(`${shape.name}/trellis`)!;
      for (const c of contenders) {
        const m = best.get(`${shape.name}/${c.name}`)!;
        const r = (a: number, b: number): string => (a > 0 && b > 0 && Number.isFinite(a / b) ? (a / b).toFixed(2) : '—');
        const ratio = c.name === 'trellis' ? ['', '', ''] : [r(t.rps, m.rps), r(t.p99, m.p99), r(t.cpuMsPerReq, m.cpuMsPerReq)];
        lines.push(`| ${shape.name} | ${c.name} | ${fmt(m.rps)} | ${m.p50} | ${m.p99} | ${fmt(m.cpuMsPerReq, 3)} | ${m.errors} | ${ratio[0]} | ${ratio[1]} | ${ratio[2]} |`);
      }
    }
    console.log(`\nbest of ${rounds} rounds × ${durationS} s, ${connections} connections; ratios are Trellis / that contender\n`);
    console.log(lines.join('\n'));
    if (feastProblem) console.log(`\nFeast did not run: ${feastProblem}`);
    await mkdir('.bench-results', { recursive: true });
    await writeFile(
      path.join('.bench-results', 'serving-bench.json'),
      JSON.stringify({ at: new Date().toISOString(), loadavg: os.loadavg(), cpus: os.cpus().length, durationS, warmupS, connections, rounds, entities: ENTITIES, features: FEATURES, feast: feast?.setup ?? null, feastProblem, best: Object.fromEntries(best), results }, null, 2),
    );
  } finally {
    await feast?.stop().catch((error: unknown) => console.warn(String(error)));
    for (const child of children) {
      if (child.connected) child.send('stop');
      await Promise.race([once(child, 'exit'), new Promise((r) => setTimeout(r, 10_000))]);
    }
  }
}

const [mode, ...args] = process.argv.slice(2);
if (mode === 'trellis') await serveTrellis(args[0]!, Number(args[1]));
else if (mode === 'naive') await serveNaive(args[0]!);
else await main();
