/**
 * Coordinator replicas as real child processes (scripts/coordinator-worker.ts).
 *
 * vitest's transform is not available to a plain `node` child, so the worker is compiled first: only that
 * script and what it imports, with the project's compiler options, into a private temporary directory (no
 * race with `npm run build` or other test files writing dist/, and unaffected by unrelated files that do not
 * type-check). The directory links node_modules and declares `"type": "module"`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));

export interface CompiledWorker {
  /** Path of the compiled worker script. */
  readonly script: string;
  /** Removes the temporary build. */
  cleanup(): void;
}

/**
 * Compiles `scripts/<name>.ts` (and what it imports) into a private temporary directory, for tests that run it as a
 * child process they can kill -9.
 */
export async function buildWorkerScript(name: string): Promise<CompiledWorker> {
  const dir = mkdtempSync(path.join(os.tmpdir(), `trellis-${name}-`));
  const outDir = path.join(dir, 'out');
  mkdirSync(outDir, { recursive: true });
  writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ type: 'module', private: true }));
  symlinkSync(path.join(root, 'node_modules'), path.join(dir, 'node_modules'), 'dir');
  writeFileSync(
    path.join(dir, 'tsconfig.json'),
    JSON.stringify({
      extends: path.join(root, 'tsconfig.json'),
      compilerOptions: { outDir, rootDir: root, noEmit: false, sourceMap: false, incremental: false, typeRoots: [path.join(root, 'node_modules', '@types')] },
      files: [path.join(root, 'scripts', `${name}.ts`)],
      include: [],
    }),
  );
  const output = await new Promise<string>((resolve) => {
    const tsc = spawn(process.execPath, [path.join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', path.join(dir, 'tsconfig.json')], { stdio: ['ignore', 'pipe', 'pipe'] });
    let text = '';
    tsc.stdout.on('data', (c: Buffer) => (text += c.toString()));
    tsc.stderr.on('data', (c: Buffer) => (text += c.toString()));
    tsc.on('close', () => resolve(text));
  });
  const script = path.join(outDir, 'scripts', `${name}.js`);
  // tsc emits even when some imported file has a type error elsewhere; only a missing output is fatal.
  if (!existsSync(script)) throw new Error(`could not compile scripts/${name}.ts:\n${output}`);
  return { script, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export const buildCoordinatorWorker = (): Promise<CompiledWorker> => buildWorkerScript('coordinator-worker');

export interface Replica {
  readonly id: string;
  readonly child: ChildProcess;
  /** Resolves once the coordinator has started (rejects if the process exits first). */
  readonly ready: Promise<void>;
  /** Resolves when the process has exited. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** stderr so far (the coordinator's log lines), for failure messages. */
  log(): string;
}

export function spawnReplica(script: string, id: string, env: Record<string, string>): Replica {
  const child = spawn(process.execPath, [script], {
    env: { ...process.env, TRELLIS_REPLICA_ID: id, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  let stdout = '';
  child.stderr!.on('data', (c: Buffer) => {
    stderr += c.toString();
    if (stderr.length > 200_000) stderr = stderr.slice(-100_000);
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  const ready = new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (c: Buffer) => {
      stdout += c.toString();
      if (stdout.split('\n').some((line) => line.includes('"event":"ready"'))) resolve();
    });
    void exited.then(({ code, signal }) => reject(new Error(`replica ${id} exited (${code ?? signal}) before it was ready:\n${stderr.slice(-4000)}`)));
  });
  ready.catch(() => {});
  return { id, child, ready, exited, log: () => stderr };
}
