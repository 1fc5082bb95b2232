import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createDuckDbOfflineStore } from '../../adapters/duckdb/index.js';
import { runOfflineStoreConformance } from '../../src/spi/testkit/offline-store-conformance.js';

runOfflineStoreConformance('duckdb (:memory:)', () => createDuckDbOfflineStore({ path: ':memory:' }));

let dir: string | undefined;
runOfflineStoreConformance(
  'duckdb (file)',
  async () => {
    dir = await mkdtemp(join(tmpdir(), 'trellis-duckdb-'));
    return createDuckDbOfflineStore({ path: join(dir, 'warehouse.duckdb') });
  },
  { cleanup: async () => dir && rm(dir, { recursive: true, force: true }) },
);
