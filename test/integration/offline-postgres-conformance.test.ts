import { createPostgresOfflineStore } from '../../adapters/postgres/index.js';
import { runOfflineStoreConformance } from '../../src/spi/testkit/offline-store-conformance.js';
import { createTestDatabase, type TestDatabase } from '../support/services.js';

let db: TestDatabase | undefined;
runOfflineStoreConformance(
  'postgres',
  async () => {
    db = await createTestDatabase('offline_conformance');
    // A hostile schema name: search_path must still be set correctly through the startup options.
    return createPostgresOfflineStore({ connectionString: db.url, schema: 'conf "schema"; --x' });
  },
  { cleanup: async () => db?.drop() },
);
