import fc from 'fast-check';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { createPostgresOfflineStore } from '../../adapters/postgres/index.js';
import type { OfflineStore } from '../../src/spi/offline-store.js';
import { createTestDatabase, type TestDatabase } from '../support/services.js';
import {
  checkMaterializations,
  checkTrainingSet,
  describeScenario,
  loadScenario,
  scenarioArbitrary,
} from '../unit/compiler/pit-property.js';

const tables = { labels: 'labels', source: (i: number) => `source_${i}` };
const runs = Number(process.env.TRELLIS_PIT_RUNS ?? 150);
const reporter = (details: fc.RunDetails<[Parameters<typeof describeScenario>[0]]>) => {
  if (details.failed && details.counterexample) {
    throw new Error(`${describeScenario(details.counterexample[0])}\n${String(details.errorInstance)}`);
  }
};

describe('point-in-time SQL on real Postgres equals the oracle', () => {
  let db: TestDatabase;
  let store: OfflineStore;
  beforeAll(async () => {
    db = await createTestDatabase('offline_pit');
    store = await createPostgresOfflineStore({ connectionString: db.url, schema: 'pit' });
  });
  afterAll(async () => {
    await store?.close();
    await db?.drop();
  });

  it('training sets, row for row', async () => {
    await fc.assert(
      fc.asyncProperty(scenarioArbitrary, async (scenario) => {
        await loadScenario(store, scenario, tables);
        await checkTrainingSet(store, scenario, tables);
      }),
      { numRuns: runs, reporter },
    );
  });

  it('materializations (full and incremental), row for row', async () => {
    await fc.assert(
      fc.asyncProperty(scenarioArbitrary, async (scenario) => {
        await loadScenario(store, scenario, tables);
        await checkMaterializations(store, scenario, tables);
      }),
      { numRuns: runs, reporter },
    );
  });
});
