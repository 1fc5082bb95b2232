/**
 * Test helper: a private redis-server child process on a spare port (for fault tests that stop and restart Redis,
 * and for a small local Cluster). Only processes started here are ever stopped, by their own pid.
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface RedisServerProcess {
  readonly port: number;
  readonly url: string;
  /** Starts the server (again) on the same port and waits for PING. */
  start(): Promise<void>;
  /** SIGKILLs the server and waits for it to exit. */
  kill(): Promise<void>;
  /** Runs redis-cli against it. */
  cli(...args: string[]): Promise<string>;
  /** Kills the server and removes its directory. */
  dispose(): Promise<void>;
}

/** A port that is free, and (for Cluster) whose bus port + 10000 is free too. */
export async function sparePort(withBusPort = false): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = 20_000 + Math.floor(Math.random() * 30_000);
    if ((await isFree(port)) && (!withBusPort || (await isFree(port + 10_000)))) return port;
  }
  throw new Error('no spare port found');
}

function isFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

export async function startRedisServer(options: { port?: number; cluster?: boolean } = {}): Promise<RedisServerProcess> {
  const port = options.port ?? (await sparePort(options.cluster));
  const dir = await mkdtemp(join(tmpdir(), `trellis-redis-${port}-`));
  let child: ChildProcess | undefined;
  const cli = async (...args: string[]): Promise<string> => (await run('redis-cli', ['-p', String(port), ...args])).stdout.trim();
  const server: RedisServerProcess = {
    port,
    url: `redis://127.0.0.1:${port}`,
    cli,
    async start() {
      const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, '--protected-mode', 'no'];
      if (options.cluster) args.push('--cluster-enabled', 'yes', '--cluster-config-file', join(dir, 'nodes.conf'), '--cluster-node-timeout', '2000');
      child = spawn('redis-server', args, { stdio: 'ignore' });
      const deadline = Date.now() + 10_000;
      for (;;) {
        if ((await cli('ping').catch(() => '')) === 'PONG') return;
        if (Date.now() > deadline) throw new Error(`redis-server on ${port} did not start`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    async kill() {
      const current = child;
      child = undefined;
      if (current === undefined || current.exitCode !== null) return;
      await new Promise<void>((resolve) => {
        current.once('exit', () => resolve());
        current.kill('SIGKILL');
      });
    },
    async dispose() {
      await server.kill();
      await rm(dir, { recursive: true, force: true });
    },
  };
  await server.start();
  return server;
}

export interface RedisClusterProcess {
  readonly nodes: readonly RedisServerProcess[];
  /** Seed nodes for ioredis / `createRedis…Store({ nodes })`. */
  readonly seeds: readonly { readonly host: string; readonly port: number }[];
  /** Kills every node and removes their directories. */
  dispose(): Promise<void>;
}

/** A private Redis Cluster of `masters` masters (no replicas) on spare ports, started and ready (`cluster_state:ok`). */
export async function startRedisCluster(masters = 3): Promise<RedisClusterProcess> {
  const nodes: RedisServerProcess[] = [];
  const dispose = () => Promise.all(nodes.map((n) => n.dispose())).then(() => undefined);
  try {
    for (let i = 0; i < masters; i++) nodes.push(await startRedisServer({ cluster: true }));
    await run('redis-cli', ['--cluster', 'create', ...nodes.map((n) => `127.0.0.1:${n.port}`), '--cluster-replicas', '0', '--cluster-yes']);
    for (const node of nodes) {
      const deadline = Date.now() + 20_000;
      while (!(await node.cli('CLUSTER', 'INFO')).includes('cluster_state:ok')) {
        if (Date.now() > deadline) throw new Error('cluster did not become ready');
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  } catch (error) {
    await dispose();
    throw error;
  }
  return { nodes, seeds: nodes.map((n) => ({ host: '127.0.0.1', port: n.port })), dispose };
}
