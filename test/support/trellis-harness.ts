import { ApiKeyStore } from '../../src/auth/api-keys.js';
import { loadConfig } from '../../src/config/load-config.js';
import type { TrellisConfig } from '../../src/config/config-schema.js';
import { openTrellis, type Trellis } from '../../src/trellis.js';
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
 * Call `close()` in afterAll; it also drops the database.
 */
export async function openTestTrellis(flavour: RegistryFlavour, overrides: Partial<Record<keyof TrellisConfig, unknown>> = {}): Promise<TestTrellis> {
  const adminKey = ApiKeyStore.generate().key;
  const database = flavour === 'postgres' ? await createTestDatabase('reg') : null;
  const config = loadConfig({ logLevel: 'silent', adminKey, databaseUrl: database?.url ?? null, dataDir: ':memory:', ...overrides }, {});
  const trellis = await openTrellis(config);
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
