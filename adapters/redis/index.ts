export { RedisOnlineStore, createRedisOnlineStore, type RedisOnlineStoreOptions } from './redis-online-store.js';
export { RedisKeyLayout, redisHashSlot } from './redis-key-layout.js';
