import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { afterAll } from 'vitest';
import { createEmbeddedTileStore } from '../../../adapters/embedded-online/embedded-tile-store.js';
import { createRedisTileStore } from '../../../adapters/redis/redis-tile-store.js';
import { runTileStoreConformance } from '../../../src/spi/testkit/tile-store-conformance.js';
import { clearRedisPrefix, createRedisPrefix, redisUrl } from '../../support/services.js';
import { startRedisCluster } from '../online/redis-server-process.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'trellis-tiles-'));
const prefix = createRedisPrefix('tiles-conf');
const admin = new Redis(redisUrl(), { lazyConnect: true });
// A private 3-master Redis Cluster on spare ports.
const cluster = await startRedisCluster(3);

afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
  await clearRedisPrefix(admin, prefix);
  await admin.quit();
  await cluster.dispose();
});

runTileStoreConformance('embedded (in memory)', async () => createEmbeddedTileStore({ dir: null }));
runTileStoreConformance('embedded (append log)', async (ns) => createEmbeddedTileStore({ dir: path.join(dir, ns) }), { persistent: true });
runTileStoreConformance('redis', async (ns) => createRedisTileStore({ url: redisUrl(), keyPrefix: `${prefix}${ns}:` }), { persistent: true });
runTileStoreConformance('redis cluster', async (ns) => createRedisTileStore({ nodes: cluster.seeds, keyPrefix: `tiles:${ns}:`, commandTimeoutMs: 5000 }), { persistent: true });
