import { Redis } from 'ioredis';
import { afterAll } from 'vitest';
import { createRedisOnlineStore } from '../../adapters/redis/index.js';
import { runOnlineStoreConformance } from '../../src/spi/testkit/online-store-conformance.js';
import { clearRedisPrefix, createRedisPrefix, redisUrl } from '../support/services.js';

const prefix = createRedisPrefix('online-conf');
const admin = new Redis(redisUrl(), { lazyConnect: true });

afterAll(async () => {
  await clearRedisPrefix(admin, prefix);
  await admin.quit();
});

runOnlineStoreConformance(
  'redis',
  // A generous deadline: parallel test files share one Redis; the 100 ms default is tested in online-redis-faults.
  async (namespace) => createRedisOnlineStore({ url: redisUrl(), keyPrefix: `${prefix}${namespace}:`, commandTimeoutMs: 2000 }),
);
