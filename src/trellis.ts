import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { buildApp } from './app.js';
import { ApiKeyStore } from './auth/api-keys.js';
import type { TrellisConfig } from './config/config-schema.js';
import { migrate } from './registry/migrations.js';
import { openPgliteDatabase, openPostgresDatabase, type RegistryDatabase } from './registry/registry-database.js';
import { Registry } from './registry/registry.js';
import { builtinAdapters } from './builtin-adapters.js';

export interface Trellis {
  readonly app: FastifyInstance;
  readonly registry: Registry;
  readonly keys: ApiKeyStore;
  readonly db: RegistryDatabase;
  /** A newly generated admin key (first start of an embedded instance), else null. */
  readonly generatedAdminKey: string | null;
  close(): Promise<void>;
}

/** Opens the registry (Postgres or embedded PGlite), migrates it, ensures an admin key and builds the app. */
export async function openTrellis(config: TrellisConfig): Promise<Trellis> {
  const db = config.databaseUrl
    ? await openPostgresDatabase(config.databaseUrl)
    : await openPgliteDatabase(config.dataDir === ':memory:' ? null : path.join(config.dataDir, 'registry'));
  try {
    await migrate(db);
    const registry = new Registry(db, { providerTypes: builtinAdapters().providerTypes() });
    const keys = new ApiKeyStore(db);
    const generatedAdminKey = await keys.bootstrapAdmin(config.adminKey);
    const app = await buildApp(config, { registry, keys });
    return {
      app,
      registry,
      keys,
      db,
      generatedAdminKey,
      async close() {
        await app.close();
        await db.close();
      },
    };
  } catch (error) {
    await db.close().catch(() => {});
    throw error;
  }
}
