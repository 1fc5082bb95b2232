import { Redis } from 'ioredis';
import { afterAll, expect, it } from 'vitest';
import { createRedisOnlineStore } from '../../../adapters/redis/index.js';
import { buildNaiveProxy } from '../../../bench/serving/naive-proxy.js';
import { clearRedisPrefix, createRedisPrefix, redisUrl } from '../../support/services.js';

const prefix = createRedisPrefix('naive-proxy');
const admin = new Redis(redisUrl(), { lazyConnect: true });

afterAll(async () => {
  await clearRedisPrefix(admin, prefix);
  await admin.quit();
});

it('the benchmark baseline reads exactly what the Redis online store wrote', async () => {
  const store = createRedisOnlineStore({ url: redisUrl(), keyPrefix: prefix, commandTimeoutMs: 2000 });
  const app = buildNaiveProxy({ redisUrl: redisUrl(), keyPrefix: prefix, entity: 'user', keyColumns: ['user_id'] });
  try {
    await store.ensureTable({ entity: 'user', table: 'age@v1', valueType: 'int' });
    await store.ensureTable({ entity: 'user', table: 'score@v1', valueType: 'float' });
    await store.writeBatch('user', 'age@v1', [{ key: ['u1'], value: 42, eventTs: 1000 }]);
    await store.writeBatch('user', 'score@v1', [{ key: ['u2'], value: 0.5, eventTs: 2000 }]);
    const response = await app.inject({
      method: 'POST',
      url: '/features',
      payload: { entities: [{ user_id: 'u1' }, { user_id: 'u2' }, { user_id: 'nobody' }], features: ['age@v1', 'score@v1'] },
    });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({
      features: ['age@v1', 'score@v1'],
      values: [
        ['1000:i42', null],
        [null, '2000:f0.5'],
        [null, null],
      ],
    });
  } finally {
    await app.close();
    await store.close();
  }
});
