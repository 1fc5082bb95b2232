import { ApiKeyStore } from '../../src/auth/api-keys.js';
import { loadConfig } from '../../src/config/load-config.js';
import type { TrellisConfig } from '../../src/config/config-schema.js';
import { openTrellis, type OpenTrellisOptions, type Trellis } from '../../src/trellis.js';
import { createTestDatabase } from './services.js';

export type RegistryFlavour = 'pglite' | 'postgres';
export const registryFlavours: readonly RegistryFlavour[] = ['pglite', 'postgres'];

export interface TestTrellis extends Trellis {
  readonly adminKey: string;
  /** Headers carrying the admin key. */
  readonly auth: { authorization: string };
}

/**
 * A Trellis instance on an in-memory PGlite registry or a fresh database on the test Postgres server.
 * Call `close()` in afterAll; it also drops the database. Apply checks sources against their warehouses as in
 * production; a test about something else whose definitions name tables that do not exist passes
 * `{ verifySources: false }` as `options` (and says so).
 */
export async function openTestTrellis(
  flavour: RegistryFlavour,
  overrides: Partial<Record<keyof TrellisConfig, unknown>> = {},
  options: OpenTrellisOptions = {},
): Promise<TestTrellis> {
  const adminKey = ApiKeyStore.generate().key;
  const database = flavour === 'postgres' ? await createTestDatabase('reg') : null;
  const config = loadConfig({ logLevel: 'silent', adminKey, databaseUrl: database?.url ?? null, dataDir: ':memory:', ...overrides }, {});
  const trellis = await openTrellis(config, options);
  return {
    ...trellis,
    adminKey,
    auth: { authorization: `Bearer ${adminKey}` },
    async close() {
      await trellis.close();
      await database?.drop();
    },
  };
}
