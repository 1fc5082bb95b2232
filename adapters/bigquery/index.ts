/**
 * The BigQuery offline adapter (@google-cloud/bigquery). See README.md beside this file for what is tested and
 * how.
 *
 * @example
 * const store = await createBigQueryOfflineStore({ projectId: 'my-project', dataset: 'features', location: 'EU' });
 * for await (const batch of store.executor.stream(store.compiler.compile(planTrainingSet(spec)))) write(batch);
 */
import type { OfflineStore } from '../../src/spi/offline-store.js';
import { BigQueryOfflineStore, type BigQueryOfflineStoreConfig } from './bigquery-offline-store.js';

export type { BigQueryOfflineStoreConfig } from './bigquery-offline-store.js';
export type {
  BigQueryClientLike,
  BigQueryField,
  BigQueryJobLike,
  BigQueryQueryJobOptions,
  BigQueryQueryParameter,
  BigQueryQueryResponse,
  BigQueryResultsOptions,
} from './bigquery-client.js';
export { BigQueryOfflineStore } from './bigquery-offline-store.js';

/** Opens a BigQuery dataset (creating it unless told not to) as an offline store. */
export function createBigQueryOfflineStore(config: BigQueryOfflineStoreConfig): Promise<OfflineStore> {
  return BigQueryOfflineStore.open(config);
}
