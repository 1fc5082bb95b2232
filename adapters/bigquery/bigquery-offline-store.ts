import { BigQuerySqlCompiler } from '../../src/compiler/sql/bigquery/bigquery-sql-compiler.js';
import { OfflineStoreBase } from '../../src/spi/offline-store.js';
import { createBigQueryClient, type BigQueryClientLike } from './bigquery-client.js';
import { BigQueryExecutor, startJob, type BigQuerySession } from './bigquery-executor.js';
import { BigQueryIntrospector } from './bigquery-introspector.js';

/** Configuration of the BigQuery offline store. */
export interface BigQueryOfflineStoreConfig {
  /** Project that runs the jobs and holds the dataset. */
  readonly projectId: string;
  /** Default dataset: unqualified tables resolve to it and tables Trellis creates land in it. */
  readonly dataset: string;
  /** Job and dataset location, e.g. `US`, `EU` (default: BigQuery's). */
  readonly location?: string;
  /** `CREATE SCHEMA IF NOT EXISTS` for the dataset on open (default true). */
  readonly createDataset?: boolean;
  /** REST endpoint override (a local emulator: `http://127.0.0.1:PORT`). */
  readonly apiEndpoint?: string;
  /** Service-account key file (otherwise Application Default Credentials). */
  readonly keyFilename?: string;
  /** Send no credentials and look none up: for a local emulator (`apiEndpoint`) only. Default false. */
  readonly anonymous?: boolean;
  /** Further @google-cloud/bigquery client options. */
  readonly options?: Readonly<Record<string, unknown>>;
  /** A lazy client factory replacing `new BigQuery(...)` (tests, custom auth). Called once, on open. */
  readonly client?: () => BigQueryClientLike | Promise<BigQueryClientLike>;
}

/**
 * BigQuery as an offline store. Every statement is a query job with the store's dataset as default dataset;
 * results are read page by page with `jobs.getQueryResults`. Temporary tables are not offered (BigQuery keeps
 * them only inside a script or session).
 */
export class BigQueryOfflineStore extends OfflineStoreBase {
  readonly adapterId = 'bigquery';
  readonly dialect = 'bigquery' as const;
  readonly compiler = new BigQuerySqlCompiler();
  readonly executor: BigQueryExecutor;
  readonly introspector: BigQueryIntrospector;
  #closed = false;

  private constructor(config: BigQueryOfflineStoreConfig, client: BigQueryClientLike) {
    super();
    const session: BigQuerySession = {
      client: () => {
        if (this.#closed) throw new Error('bigquery: the offline store is closed');
        return client;
      },
      projectId: config.projectId,
      dataset: config.dataset,
      location: config.location,
    };
    this.executor = new BigQueryExecutor(session, this.compiler);
    this.introspector = new BigQueryIntrospector(session, this.compiler);
  }

  static async open(config: BigQueryOfflineStoreConfig): Promise<BigQueryOfflineStore> {
    for (const key of ['projectId', 'dataset'] as const) {
      if (typeof config?.[key] !== 'string' || config[key].length === 0) throw new Error(`bigquery: config.${key} is required`);
    }
    const frozen = Object.freeze({ ...config, options: Object.freeze({ ...(config.options ?? {}) }) });
    const compiler = new BigQuerySqlCompiler();
    const dataset = `${compiler.quoteIdentifier(frozen.projectId)}.${compiler.quoteIdentifier(frozen.dataset)}`;
    const client = frozen.client ? await frozen.client() : await createBigQueryClient(frozen);
    const probe: BigQuerySession = { client: () => client, projectId: frozen.projectId, dataset: frozen.dataset, location: frozen.location };
    try {
      if (frozen.createDataset !== false) {
        const location = frozen.location === undefined ? '' : ` OPTIONS (location = ${compiler.stringLiteral(frozen.location)})`;
        await startJob(probe, `CREATE SCHEMA IF NOT EXISTS ${dataset}${location}`, [], 0);
      } else {
        await startJob(probe, 'SELECT 1', [], 0);
      }
    } catch (error) {
      throw new Error(`bigquery: cannot open the offline store: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
    }
    return new BigQueryOfflineStore(frozen, client);
  }

  async close(): Promise<void> {
    this.#closed = true;
  }
}
