import { Cluster } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { createRedisOnlineStore, RedisKeyLayout, redisHashSlot } from '../../adapters/redis/index.js';
import { encodeEntityKey } from '../../src/spi/online-store.js';
import { runOnlineStoreConformance } from '../../src/spi/testkit/online-store-conformance.js';
import { startRedisCluster } from '../unit/online/redis-server-process.js';

// A private 3-master Redis Cluster on spare ports.
const cluster = await startRedisCluster(3);
const { nodes } = cluster;
const seeds = [...cluster.seeds];

afterAll(async () => {
  await cluster.dispose();
});

runOnlineStoreConformance('redis-cluster', async (namespace) => createRedisOnlineStore({ nodes: seeds, keyPrefix: `trellis:cluster:${namespace}:`, commandTimeoutMs: 2000 }));

describe('redis online store on a cluster', () => {
  it('computes the same slots as the server, hash tags included', async () => {
    const layout = new RedisKeyLayout('trellis:');
    const keys = [['u1'], ['a}b', 1], ['{', '}'], ['é😀'], [2n ** 62n], ['', '']].map((k) => layout.rowKey('user', encodeEntityKey(k)));
    const extended = keys.map((k) => `${k}:aux}`);
    for (const key of [...keys, ...extended, 'plain', '{}x', 'a{b}c{d}']) {
      expect(redisHashSlot(key), key).toBe(Number(await nodes[0]!.cli('CLUSTER', 'KEYSLOT', key)));
    }
    // Keys extending a row key share its slot, whatever '}' the encoded key holds.
    for (const [i, key] of keys.entries()) expect(redisHashSlot(extended[i]!)).toBe(redisHashSlot(key));
  });

  it('spreads entity rows over every master and batches writes per slot', async () => {
    const store = createRedisOnlineStore({ nodes: seeds, keyPrefix: 'trellis:spread:', commandTimeoutMs: 2000 });
    const admin = new Cluster(seeds);
    try {
      await store.ensureTable({ entity: 'user', table: 'n@v1', valueType: 'int' });
      const rows = Array.from({ length: 3000 }, (_, i) => ({ key: [`u${i}`], value: i, eventTs: 1 }));
      expect(await store.writeBatch('user', 'n@v1', rows)).toEqual({ written: 3000, skippedOlder: 0 });
      const counts = await Promise.all(admin.nodes('master').map((node) => node.dbsize()));
      expect(counts.length).toBe(3);
      for (const count of counts) expect(count).toBeGreaterThan(500);
      const cells = await store.read('user', rows.map((r) => r.key), ['n@v1']);
      expect(cells.map((row) => row[0]?.value)).toEqual(rows.map((r) => r.value));
      await store.dropTable({ entity: 'user', table: 'n@v1' });
      expect((await Promise.all(admin.nodes('master').map((node) => node.dbsize()))).reduce((a, b) => a + b, 0)).toBeLessThan(3000);
    } finally {
      await store.close();
      admin.disconnect();
    }
  });
});
