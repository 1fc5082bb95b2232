/**
 * The DuckDB offline adapter: the embedded default warehouse (a file on disk, or `:memory:`).
 *
 * @example
 * const store = await createDuckDbOfflineStore({ path: './data/warehouse.duckdb' });
 * const rows = await store.executor.query(store.compiler.compile(planTrainingSet(spec)));
 */
import type { OfflineStore } from '../../src/spi/offline-store.js';
import { DuckDbOfflineStore, type DuckDbOfflineStoreConfig } from './duckdb-offline-store.js';

export type { DuckDbOfflineStoreConfig } from './duckdb-offline-store.js';
export { DuckDbOfflineStore } from './duckdb-offline-store.js';

/** Opens (or creates) a DuckDB database and returns it as an offline store. */
export function createDuckDbOfflineStore(config: DuckDbOfflineStoreConfig): Promise<OfflineStore> {
  return DuckDbOfflineStore.open(config);
}
