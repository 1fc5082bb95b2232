/**
 * The Snowflake offline adapter (snowflake-sdk). See README.md beside this file for what is tested and how.
 *
 * @example
 * const store = await createSnowflakeOfflineStore({
 *   account: 'myorg-myaccount', username: 'trellis', password: secret, warehouse: 'WH',
 *   database: 'ANALYTICS', schema: 'FEATURES',
 * });
 * for await (const batch of store.executor.stream(store.compiler.compile(planTrainingSet(spec)))) write(batch);
 */
import type { OfflineStore } from '../../src/spi/offline-store.js';
import { SnowflakeOfflineStore, type SnowflakeOfflineStoreConfig } from './snowflake-offline-store.js';

export type { SnowflakeOfflineStoreConfig } from './snowflake-offline-store.js';
export type {
  SnowflakeBind,
  SnowflakeColumnLike,
  SnowflakeConnectionLike,
  SnowflakeExecuteOptions,
  SnowflakeStatementLike,
} from './snowflake-connection.js';
export { SnowflakeOfflineStore } from './snowflake-offline-store.js';

/** Connects to Snowflake (creating the schema unless told not to) and returns it as an offline store. */
export function createSnowflakeOfflineStore(config: SnowflakeOfflineStoreConfig): Promise<OfflineStore> {
  return SnowflakeOfflineStore.open(config);
}
