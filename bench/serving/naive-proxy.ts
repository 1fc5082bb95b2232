/**
 * The baseline Trellis serving must beat: a hand-written Fastify + ioredis proxy — no auth, no validation, no
 * registry, no typed decoding — that answers `POST /features { entities: [{ <key column>: value }], features: [...] }`
 * with one pipelined HMGET per entity over the Redis online store's key layout (adapters/redis/README.md) and sends
 * the raw cells back as JSON: `{ features, values: [[cell | null, …], …] }`.
 *
 * Run alone: `node dist/bench/serving/naive-proxy.js` (env REDIS_URL, KEY_PREFIX, ENTITY, KEY_COLUMNS, PORT).
 */
import { pathToFileURL } from 'node:url';
import Fastify, { type FastifyInstance } from 'fastify';
import { Redis } from 'ioredis';
import { encodeEntityKey, type EntityKeyValue } from '../../src/spi/online-store.js';

export interface NaiveProxyOptions {
  readonly redisUrl: string;
  /** The Redis online store's keyPrefix. */
  readonly keyPrefix: string;
  readonly entity: string;
  readonly keyColumns: readonly string[];
}

interface FeaturesBody {
  entities: Record<string, EntityKeyValue>[];
  features: string[];
}

export function buildNaiveProxy(options: NaiveProxyOptions): FastifyInstance {
  const redis = new Redis(options.redisUrl);
  const app = Fastify({ logger: false });
  const start = `${options.keyPrefix}${options.entity}:{`;
  app.post('/features', async (request) => {
    const { entities, features } = request.body as FeaturesBody;
    const pipeline = redis.pipeline();
    for (const row of entities) pipeline.hmget(`${start}${encodeEntityKey(options.keyColumns.map((c) => row[c] as EntityKeyValue))}}`, ...features);
    const replies = (await pipeline.exec()) ?? [];
    return { features, values: replies.map(([, cells]) => cells) };
  });
  app.addHook('onClose', async () => {
    await redis.quit();
  });
  return app;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const app = buildNaiveProxy({
    redisUrl: process.env.REDIS_URL ?? 'redis://127.0.0.1:56379',
    keyPrefix: process.env.KEY_PREFIX ?? 'trellis:',
    entity: process.env.ENTITY ?? 'user',
    keyColumns: (process.env.KEY_COLUMNS ?? 'user_id').split(','),
  });
  const address = await app.listen({ port: Number(process.env.PORT ?? 8101), host: '127.0.0.1' });
  console.log(`naive proxy listening on ${address}`);
}
