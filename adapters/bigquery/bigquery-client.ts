/**
 * The small structural subset of @google-cloud/bigquery the adapter uses, and the default (lazy) client
 * factory. Nothing here leaks into src/spi: the store works with anything shaped like {@link BigQueryClientLike}.
 */

/** A query parameter in the REST shape (`jobs.insert` → `configuration.query.queryParameters`). */
export interface BigQueryQueryParameter {
  readonly name: string;
  readonly parameterType: { readonly type: string };
  readonly parameterValue: { readonly value: string | null };
}

/** What the adapter passes to `createQueryJob` (it becomes `configuration.query`). */
export interface BigQueryQueryJobOptions {
  readonly query: string;
  readonly useLegacySql: false;
  readonly parameterMode?: 'NAMED';
  readonly queryParameters?: readonly BigQueryQueryParameter[];
  readonly defaultDataset?: { readonly projectId: string; readonly datasetId: string };
  readonly location?: string;
}

/** A field of a result schema (REST `TableFieldSchema`). */
export interface BigQueryField {
  readonly name: string;
  readonly type: string;
  readonly mode?: string;
  readonly fields?: readonly BigQueryField[];
}

/** A raw result row (`skipParsing: true`): one `{ v }` cell per schema field. */
export interface BigQueryRawRow {
  readonly f: readonly { readonly v: unknown }[];
}

/** The parts of a `jobs.getQueryResults` response the adapter reads. */
export interface BigQueryQueryResponse {
  readonly jobComplete?: boolean;
  readonly schema?: { readonly fields?: readonly BigQueryField[] };
  readonly numDmlAffectedRows?: string;
  readonly pageToken?: string;
  readonly totalRows?: string;
}

/** Options of `Job.getQueryResults` the adapter sets (one page, raw rows). */
export interface BigQueryResultsOptions {
  readonly maxResults: number;
  readonly pageToken?: string;
  readonly timeoutMs?: number;
  readonly autoPaginate: false;
  readonly skipParsing: true;
}

/** A query job. */
export interface BigQueryJobLike {
  getQueryResults(options: BigQueryResultsOptions): Promise<readonly [unknown[], unknown, BigQueryQueryResponse?, ...unknown[]]>;
  cancel(): Promise<unknown>;
}

/** A BigQuery client: `new BigQuery(...)` fits. */
export interface BigQueryClientLike {
  createQueryJob(options: BigQueryQueryJobOptions): Promise<readonly [BigQueryJobLike, ...unknown[]]>;
}

/** Client settings of the default factory (@google-cloud/bigquery `BigQueryOptions`). */
export interface BigQueryClientSettings {
  readonly projectId: string;
  readonly location?: string;
  /** REST endpoint override, e.g. a local emulator `http://127.0.0.1:PORT`. */
  readonly apiEndpoint?: string;
  /** Service-account key file (otherwise Application Default Credentials). */
  readonly keyFilename?: string;
  /** Send no credentials and look none up (a local emulator only; default false). */
  readonly anonymous?: boolean;
  /** Further client options. */
  readonly options?: Readonly<Record<string, unknown>>;
}

/** Creates an @google-cloud/bigquery client; the package is imported on first use only. */
export async function createBigQueryClient(settings: BigQueryClientSettings): Promise<BigQueryClientLike> {
  const { BigQuery } = await import('@google-cloud/bigquery');
  return new BigQuery({
    projectId: settings.projectId,
    ...(settings.location === undefined ? {} : { location: settings.location }),
    ...(settings.apiEndpoint === undefined ? {} : { apiEndpoint: settings.apiEndpoint }),
    ...(settings.keyFilename === undefined ? {} : { keyFilename: settings.keyFilename }),
    // The client asks its auth client only for request headers; an empty set sends no token.
    ...(settings.anonymous === true ? { authClient: { getRequestHeaders: async () => new Headers() } as never } : {}),
    ...settings.options,
  }) as unknown as BigQueryClientLike;
}
