/**
 * Helpers for tests against the warehouse emulators started by scripts/services/up.sh (fakesnow.sh,
 * bigquery-emulator.sh) and checked by test/setup/global-setup.ts.
 *
 * Isolation (test files run in parallel against the same emulators):
 * - Snowflake (fakesnow): each test file gets its own database from createSnowflakeTestTarget(), dropped
 *   afterwards; snowflake-sdk reaches fakesnow through an in-process snowflake-arrow-proxy.
 * - BigQuery (emulator): each test file gets its own dataset from createBigQueryTestTarget(), dropped with its
 *   contents afterwards.
 */
import { spawnSync } from 'node:child_process';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { BigQuery } from '@google-cloud/bigquery';
import { inject } from 'vitest';
import type { BigQueryClientLike } from '../../adapters/bigquery/index.js';
import type { SnowflakeConnectionLike, SnowflakeOfflineStoreConfig } from '../../adapters/snowflake/index.js';
import { connectSnowflake } from '../../adapters/snowflake/snowflake-connection.js';
// Brings in the ProvidedContext augmentation (types only).
import type {} from '../setup/global-setup.js';
import { uniqueId } from './services.js';
import { startSnowflakeArrowProxy, type SnowflakeArrowProxy } from './snowflake-arrow-proxy.js';

type ProvidedKey = 'trellisFakesnowUrl' | 'trellisBigQueryUrl';

function setting(key: ProvidedKey, envName: string): string {
  let value: string | undefined;
  try {
    value = inject(key);
  } catch {
    // inject() only works inside a vitest worker; fall back to the environment.
  }
  value ||= process.env[envName];
  if (!value) {
    throw new Error(
      `${envName} is not set and vitest provided no '${key}': the emulators were not set up. Run the tests through ` +
        'vitest with test/setup/global-setup.ts, or start them with `bash scripts/services/up.sh` and export the variable.',
    );
  }
  return value;
}

/** fakesnow's server-mode URL, e.g. http://127.0.0.1:58080 (speaks Arrow; put the proxy in front for the SDK). */
export function fakesnowUrl(): string {
  return setting('trellisFakesnowUrl', 'TRELLIS_TEST_FAKESNOW_URL');
}

/** The BigQuery emulator's URL, e.g. http://127.0.0.1:59050 (the client's `apiEndpoint`). */
export function bigQueryEmulatorUrl(): string {
  return setting('trellisBigQueryUrl', 'TRELLIS_TEST_BIGQUERY_URL');
}

/** The Python of the virtualenv the emulator scripts built (sqlglot lives there). */
export function emulatorPython(): string {
  return join(process.env.TRELLIS_PYTHON_VENV ?? join(homedir(), '.cache', 'trellis', 'venv'), 'bin', 'python');
}

export interface SnowflakeTestTarget {
  /**
   * Store config for a fresh database `trellis_t_<prefix>_<random>` (created on open), through the proxy. Its
   * connection factory is snowflake-sdk's, wrapped to record every statement in {@link statements}.
   */
  readonly config: SnowflakeOfflineStoreConfig;
  /** Every SQL text the store sent, in order. */
  readonly statements: string[];
  readonly proxy: SnowflakeArrowProxy;
  /** Drops the schema (with its tables) and stops the proxy. Safe to call twice. */
  drop(): Promise<void>;
}

/** A fresh fakesnow database behind a new arrow proxy; use one per test file. */
export async function createSnowflakeTestTarget(prefix: string, schema = 'features'): Promise<SnowflakeTestTarget> {
  const proxy = await startSnowflakeArrowProxy({ target: fakesnowUrl() });
  const database = `trellis_t_${prefix.toLowerCase().replace(/[^a-z0-9_]+/g, '_')}_${uniqueId()}`;
  const statements: string[] = [];
  const settings = { account: 'fakesnow', username: 'trellis', password: 'trellis', accessUrl: proxy.url };
  const config: SnowflakeOfflineStoreConfig = {
    ...settings,
    database,
    schema,
    createDatabase: true,
    connection: async (): Promise<SnowflakeConnectionLike> => {
      const connection = await connectSnowflake(settings);
      return {
        execute: (options) => {
          statements.push(options.sqlText);
          return connection.execute(options);
        },
        destroy: (callback) => connection.destroy(callback),
      };
    },
  };
  let dropped = false;
  return {
    config,
    statements,
    proxy,
    async drop() {
      if (dropped) return;
      dropped = true;
      try {
        const connection = await connectSnowflake({ account: 'fakesnow', username: 'trellis', password: 'trellis', accessUrl: proxy.url });
        await new Promise<void>((resolve, reject) =>
          connection.execute({
            // fakesnow has no DROP DATABASE (DuckDB has none); fakesnow.sh deletes trellis_t_* files on start.
            sqlText: `DROP SCHEMA IF EXISTS "${database}"."${schema.replaceAll('"', '""')}" CASCADE`,
            complete: (error) => (error ? reject(error) : resolve()),
          }),
        );
        await new Promise<void>((resolve) => connection.destroy(() => resolve()));
      } finally {
        await proxy.close();
      }
    },
  };
}

/** A BigQuery client for the emulator: no credentials are looked up (no metadata-server probe), no token sent. */
export function emulatorBigQueryClient(projectId: string): BigQuery {
  return new BigQuery({
    projectId,
    apiEndpoint: bigQueryEmulatorUrl(),
    // GoogleAuth uses a given authClient as is; this one adds no Authorization header.
    authClient: { getRequestHeaders: async () => new Headers() } as never,
  });
}

export interface BigQueryTestTarget {
  readonly projectId: string;
  /** A fresh dataset `trellis_t_<prefix>_<random>` (the store creates it on open). */
  readonly dataset: string;
  /** A client for the emulator, wrapped to record every query in {@link statements}. */
  readonly client: () => BigQueryClientLike;
  /** Every SQL text the store sent, in order. */
  readonly statements: string[];
  /** Deletes the dataset and its contents. Safe to call twice. */
  drop(): Promise<void>;
}

export function createBigQueryTestTarget(prefix: string): BigQueryTestTarget {
  const projectId = 'trellis-test';
  const dataset = `trellis_t_${prefix.toLowerCase().replace(/[^a-z0-9_]+/g, '_')}_${uniqueId()}`;
  const bigquery = emulatorBigQueryClient(projectId);
  const statements: string[] = [];
  let dropped = false;
  return {
    projectId,
    dataset,
    statements,
    client: () => ({
      createQueryJob: (options) => {
        statements.push(options.query);
        return (bigquery as unknown as BigQueryClientLike).createQueryJob(options);
      },
    }),
    async drop() {
      if (dropped) return;
      dropped = true;
      const ds = bigquery.dataset(dataset);
      const [exists] = await ds.exists();
      if (exists) await ds.delete({ force: true });
    },
  };
}

/**
 * Parses each statement with sqlglot in `dialect` (in the emulators' virtualenv). Returns, per statement,
 * `null` when it parsed, otherwise sqlglot's message. BigQuery identifiers holding a backtick or backslash
 * (escaped as `\``, `\\`, which GoogleSQL allows and sqlglot 30.22 cannot read) are replaced by a plain
 * identifier first, with the emulator's own `protect_identifiers`.
 */
export function sqlglotParseErrors(dialect: 'snowflake' | 'bigquery', statements: readonly string[]): (string | null)[] {
  const script = `
import json, sys
sys.path.insert(0, ${JSON.stringify(join(process.cwd(), 'scripts', 'services'))})
import sqlglot
from bigquery_emulator import protect_identifiers
dialect = sys.argv[1]
out = []
for sql in json.load(sys.stdin):
    try:
        text = protect_identifiers(sql)[0] if dialect == "bigquery" else sql
        parsed = [s for s in sqlglot.parse(text, read=dialect) if s is not None]
        out.append(None if len(parsed) == 1 else f"{len(parsed)} statements")
    except Exception as e:
        out.append(f"{type(e).__name__}: {e}")
print(json.dumps(out))
`;
  const result = spawnSync(emulatorPython(), ['-c', script, dialect], { input: JSON.stringify(statements), encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (result.status !== 0) throw new Error(`sqlglot check failed: ${result.stderr || result.error?.message}`);
  return JSON.parse(result.stdout) as (string | null)[];
}
