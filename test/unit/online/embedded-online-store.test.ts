import { spawn } from 'node:child_process';
import { appendFile, mkdir, mkdtemp, readFile, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import ts from 'typescript';
import { afterAll, describe, expect, it } from 'vitest';
import { createEmbeddedOnlineStore, type EmbeddedOnlineStore } from '../../../adapters/embedded-online/index.js';
import { isOnlineStoreError, type OnlineCell } from '../../../src/spi/online-store.js';

const root = await mkdtemp(join(tmpdir(), 'trellis-embedded-unit-'));
let dirSeq = 0;
const newDir = (): string => join(root, `d${++dirSeq}`);
const logOf = (dir: string): string => join(dir, 'online.log');

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

const ENTITY = 'user';
const TABLE = 'score@v1';
const KEYS = [0, 1, 2, 3];

async function readAll(store: EmbeddedOnlineStore, tables = [TABLE]): Promise<(OnlineCell | null)[][]> {
  return store.read(ENTITY, KEYS.map((k) => [k]), tables);
}

type Op = { kind: 'write'; key: number; value: number; eventTs: number } | { kind: 'delete'; key: number };
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 8, arbitrary: fc.record({ kind: fc.constant('write' as const), key: fc.constantFrom(...KEYS), value: fc.integer(), eventTs: fc.integer({ min: 0, max: 20 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('delete' as const), key: fc.constantFrom(...KEYS) }) },
);

describe('embedded online store: crash safety', () => {
  it('recovers exactly the complete lines before any torn tail (property)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { minLength: 1, maxLength: 25 }), fc.double({ min: 0, max: 1, noNaN: true }), fc.constantFrom('cut', 'zeros', 'garbage'), async (ops, cutAt, tail) => {
        const dir = newDir();
        const store = await createEmbeddedOnlineStore({ dir });
        await store.ensureTable({ entity: ENTITY, table: TABLE, valueType: 'int' });
        // One op = at most one log line: remember the file size and the state after each.
        const checkpoints: { size: number; state: (OnlineCell | null)[][] }[] = [{ size: (await stat(logOf(dir))).size, state: await readAll(store) }];
        for (const op of ops) {
          if (op.kind === 'write') await store.writeBatch(ENTITY, TABLE, [{ key: [op.key], value: op.value, eventTs: op.eventTs }]);
          else await store.deleteEntity(ENTITY, [[op.key]]);
          checkpoints.push({ size: (await stat(logOf(dir))).size, state: await readAll(store) });
        }
        await store.close();

        const full = (checkpoints.at(-1) as { size: number }).size;
        const cut = Math.floor(checkpoints[0]!.size + cutAt * (full - checkpoints[0]!.size));
        await truncate(logOf(dir), cut);
        if (tail === 'zeros') await appendFile(logOf(dir), Buffer.alloc(37));
        if (tail === 'garbage') await appendFile(logOf(dir), '0badc0de ["w","user"');
        const expected = [...checkpoints].reverse().find((c) => c.size <= cut) as { state: (OnlineCell | null)[][] };

        const reopened = await createEmbeddedOnlineStore({ dir });
        expect(await readAll(reopened)).toEqual(expected.state);
        expect(reopened.recovery.corruptLines).toBe(0);
        // The torn tail is gone: new writes land on a clean line and survive another reopen.
        await reopened.writeBatch(ENTITY, TABLE, [{ key: [99], value: 1, eventTs: 1 }]);
        await reopened.close();
        const again = await createEmbeddedOnlineStore({ dir });
        expect(again.recovery).toMatchObject({ corruptLines: 0, truncatedBytes: 0 });
        expect(await again.read(ENTITY, [[99]], [TABLE])).toEqual([[{ value: 1, eventTs: 1 }]]);
        expect(await readAll(again)).toEqual(expected.state);
        await again.close();
        await rm(dir, { recursive: true, force: true });
      }),
      { numRuns: 60 },
    );
  });

  it('skips a corrupted line in the middle and keeps the rest', async () => {
    const dir = newDir();
    const store = await createEmbeddedOnlineStore({ dir });
    await store.ensureTable({ entity: ENTITY, table: TABLE, valueType: 'int' });
    for (const k of KEYS) await store.writeBatch(ENTITY, TABLE, [{ key: [k], value: k, eventTs: 1 }]);
    await store.close();
    const lines = (await readFile(logOf(dir), 'utf8')).split('\n');
    lines[2] = (lines[2] as string).replace('"i1:1"', '"i1:7"'); // key 1's line, checksum no longer matches
    await writeFile(logOf(dir), lines.join('\n'));
    const reopened = await createEmbeddedOnlineStore({ dir });
    expect(reopened.recovery).toMatchObject({ corruptLines: 1, truncatedBytes: 0 });
    expect(await readAll(reopened)).toEqual([[{ value: 0, eventTs: 1 }], [null], [{ value: 2, eventTs: 1 }], [{ value: 3, eventTs: 1 }]]);
    await reopened.close();
  });

  it('keeps every acknowledged write when the writing process is killed (kill -9, with compactions)', async () => {
    const build = await transpileForChild();
    for (let round = 0; round < 3; round++) {
      const dir = newDir();
      const acked = await runAndKill(build, dir, 150 + round * 200);
      expect(acked).toBeGreaterThanOrEqual(0);
      const store = await createEmbeddedOnlineStore({ dir });
      const cells = await store.read(ENTITY, Array.from({ length: 200 }, (_, i) => [i]), ['blob@v1']);
      for (const [i, row] of cells.entries()) {
        const cell = row[0];
        expect(cell, `key ${i}`).not.toBeNull();
        expect(cell!.eventTs, `key ${i}`).toBeGreaterThanOrEqual(acked);
        expect(String(cell!.value).startsWith(`${cell!.eventTs}:${i}:`), `key ${i}`).toBe(true);
      }
      expect(store.recovery.corruptLines).toBe(0);
      await store.close();
    }
  }, 60_000);
});

describe('embedded online store: compaction', () => {
  it('shrinks the log and keeps the state, with writes, deletes and drops racing the rewrite', async () => {
    const dir = newDir();
    const store = await createEmbeddedOnlineStore({ dir, compactMinRecords: 1_000_000_000 });
    const tables = ['a@v1', 'b@v1', 'c@v1'];
    for (const table of tables) await store.ensureTable({ entity: ENTITY, table, valueType: 'int', ttlSeconds: 3600 });
    // Enough cells that the snapshot spans several chunks, so the racers really interleave with it.
    const keys = Array.from({ length: 20_000 }, (_, i) => [i]);
    for (let round = 0; round < 4; round++) {
      for (const table of tables) await store.writeBatch(ENTITY, table, keys.map((key) => ({ key, value: round, eventTs: round })));
    }
    const before = (await stat(logOf(dir))).size;

    let racing = true;
    const racers = (async () => {
      for (let r = 100; racing; r++) {
        await store.writeBatch(ENTITY, 'a@v1', keys.slice(0, 50).map((key) => ({ key, value: r, eventTs: r })));
        await store.deleteEntity(ENTITY, [[r % 300]]);
        if (r === 103) await store.dropTable({ entity: ENTITY, table: 'c@v1' });
        if (r === 105) await store.ensureTable({ entity: ENTITY, table: 'd@v1', valueType: 'string' });
        if (r >= 105) await store.writeBatch(ENTITY, 'd@v1', [{ key: [r % 7], value: `r${r}`, eventTs: r }]);
        await new Promise((resolve) => setImmediate(resolve));
      }
    })();
    await store.compact();
    await new Promise((resolve) => setTimeout(resolve, 20));
    racing = false;
    await racers;

    const all = [...tables, 'd@v1'];
    const live = await store.read(ENTITY, keys, all);
    await store.close();
    expect((await stat(logOf(dir))).size).toBeLessThan(before / 2);
    const reopened = await createEmbeddedOnlineStore({ dir });
    expect(await reopened.read(ENTITY, keys, all)).toEqual(live);
    expect(await reopened.getTable({ entity: ENTITY, table: 'c@v1' })).toBeNull();
    expect(reopened.recovery.corruptLines).toBe(0);
    await reopened.close();
  });

  it('compacts by itself once the log is mostly dead', async () => {
    const dir = newDir();
    const store = await createEmbeddedOnlineStore({ dir, compactMinRecords: 500 });
    await store.ensureTable({ entity: ENTITY, table: TABLE, valueType: 'int' });
    for (let round = 0; round < 50; round++) await store.writeBatch(ENTITY, TABLE, KEYS.map((k) => ({ key: [k], value: round, eventTs: round })));
    await store.close();
    const reopened = await createEmbeddedOnlineStore({ dir });
    expect(reopened.recovery.records).toBeLessThan(500);
    expect(await readAll(reopened)).toEqual(KEYS.map(() => [{ value: 49, eventTs: 49 }]));
    await reopened.close();
  });
});

describe('embedded online store: ownership and options', () => {
  it('lets one store own a directory and takes over a lock left by a dead process', async () => {
    const dir = newDir();
    const store = await createEmbeddedOnlineStore({ dir });
    const second = await createEmbeddedOnlineStore({ dir }).catch((error: unknown) => error);
    expect(isOnlineStoreError(second, 'TRELLIS_ERR_ONLINE_UNAVAILABLE')).toBe(true);
    await store.close();

    const deadPid = await new Promise<number>((resolve) => {
      const child = spawn(process.execPath, ['-e', '']);
      child.on('exit', () => resolve(child.pid as number));
    });
    await writeFile(join(dir, 'LOCK'), `${deadPid}\n`);
    const reopened = await createEmbeddedOnlineStore({ dir });
    await reopened.close();
  });

  it('persists with fsync "interval"', async () => {
    const dir = newDir();
    const store = await createEmbeddedOnlineStore({ dir, fsync: 'interval', fsyncIntervalMs: 20 });
    await store.ensureTable({ entity: ENTITY, table: TABLE, valueType: 'int' });
    await Promise.all(KEYS.map((k) => store.writeBatch(ENTITY, TABLE, [{ key: [k], value: k * 2, eventTs: 5 }])));
    await store.close();
    const reopened = await createEmbeddedOnlineStore({ dir });
    expect(await readAll(reopened)).toEqual(KEYS.map((k) => [{ value: k * 2, eventTs: 5 }]));
    await reopened.close();
  });

  it('hands out values that callers cannot corrupt', async () => {
    const dir = newDir();
    const store = await createEmbeddedOnlineStore({ dir });
    await store.ensureTable({ entity: ENTITY, table: 'emb@v1', valueType: 'float_list' });
    await store.ensureTable({ entity: ENTITY, table: 'ts@v1', valueType: 'timestamp' });
    const input = [1, 2, 3];
    await store.writeBatch(ENTITY, 'emb@v1', [{ key: [1], value: input, eventTs: 1 }]);
    await store.writeBatch(ENTITY, 'ts@v1', [{ key: [1], value: new Date(1000), eventTs: 1 }]);
    input[0] = 99;
    const [[emb, when]] = (await store.read(ENTITY, [[1]], ['emb@v1', 'ts@v1'])) as [[OnlineCell, OnlineCell]];
    expect(emb.value).toEqual([1, 2, 3]);
    expect(() => ((emb.value as number[])[0] = 5)).toThrow();
    (when.value as Date).setTime(0);
    expect(await store.read(ENTITY, [[1]], ['ts@v1'])).toEqual([[{ value: new Date(1000), eventTs: 1 }]]);
    await store.close();
  });
});

/** Transpiles the SPI and the embedded adapter to plain ESM so a child process can run them without a loader. */
async function transpileForChild(): Promise<string> {
  const repo = fileURLToPath(new URL('../../../', import.meta.url));
  const out = join(root, 'child-build');
  const files = ['src/spi/online-store.ts', ...['append-log', 'directory-lock', 'embedded-online-store', 'index'].map((f) => `adapters/embedded-online/${f}.ts`)];
  for (const file of files) {
    const source = await readFile(join(repo, file), 'utf8');
    const { outputText } = ts.transpileModule(source, {
      compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022, verbatimModuleSyntax: true },
    });
    const target = join(out, file.replace(/\.ts$/, '.js'));
    await mkdir(dirname(target), { recursive: true });
    await writeFile(target, outputText);
  }
  await writeFile(join(out, 'package.json'), '{"type":"module"}');
  await writeFile(
    join(out, 'child.js'),
    `import { createEmbeddedOnlineStore } from './adapters/embedded-online/index.js';
const store = await createEmbeddedOnlineStore({ dir: process.argv[2], compactMinRecords: 2000 });
await store.ensureTable({ entity: 'user', table: 'blob@v1', valueType: 'string' });
process.stdout.write('ready\\n');
for (let b = 0; ; b++) {
  const rows = Array.from({ length: 200 }, (_, i) => ({ key: [i], value: b + ':' + i + ':' + 'x'.repeat(400 + (b % 7) * 50), eventTs: b }));
  await store.writeBatch('user', 'blob@v1', rows);
  process.stdout.write(b + '\\n');
}
`,
  );
  return out;
}

/** Runs the child writer, kills it with SIGKILL `afterMs` after it is ready; resolves to the last acknowledged batch. */
function runAndKill(build: string, dir: string, afterMs: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(build, 'child.js'), dir], { stdio: ['ignore', 'pipe', 'pipe'] });
    let acked = -1;
    let buffered = '';
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.stdout.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      const lines = buffered.split('\n');
      buffered = lines.pop() ?? '';
      for (const line of lines) {
        if (line === 'ready') setTimeout(() => child.kill('SIGKILL'), afterMs);
        else acked = Number(line);
      }
    });
    child.on('exit', (_code, signal) => {
      if (signal !== 'SIGKILL') reject(new Error(`child exited without being killed: ${stderr}`));
      else resolve(acked);
    });
  });
}

