/**
 * The Postgres offline adapter.
 *
 * @example
 * const store = await createPostgresOfflineStore({ connectionString: process.env.WAREHOUSE_URL!, schema: 'features' });
 * for await (const batch of store.executor.stream(store.compiler.compile(planTrainingSet(spec)))) write(batch);
 */
import type { OfflineStore } from '../../src/spi/offline-store.js';
import { PostgresOfflineStore, type PostgresOfflineStoreConfig } from './postgres-offline-store.js';

export type { PostgresOfflineStoreConfig } from './postgres-offline-store.js';
export type { PgClientLike, PgPoolLike, PgQueryResult } from './postgres-connection.js';
export { offlineTypeParsers } from './postgres-connection.js';
export { PostgresOfflineStore } from './postgres-offline-store.js';

/** Connects to Postgres (creating `schema` if given) and returns it as an offline store. */
export function createPostgresOfflineStore(config: PostgresOfflineStoreConfig): Promise<OfflineStore> {
  return PostgresOfflineStore.open(config);
}
