import fc from 'fast-check';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { createDuckDbOfflineStore } from '../../../adapters/duckdb/index.js';
import type { OfflineStore } from '../../../src/spi/offline-store.js';
import { checkMaterializations, checkTrainingSet, describeScenario, loadScenario, scenarioArbitrary } from './pit-property.js';

const tables = { labels: 'labels', source: (i: number) => `source_${i}` };

describe('point-in-time SQL on real DuckDB equals the oracle', () => {
  let store: OfflineStore;
  beforeAll(async () => {
    store = await createDuckDbOfflineStore({ path: ':memory:' });
  });
  afterAll(async () => {
    await store.close();
  });

  it('training sets, row for row', async () => {
    await fc.assert(
      fc.asyncProperty(scenarioArbitrary, async (scenario) => {
        await loadScenario(store, scenario, tables);
        await checkTrainingSet(store, scenario, tables);
      }),
      { numRuns: Number(process.env.TRELLIS_PIT_RUNS ?? 200), examples: [], reporter: (details) => {
        if (details.failed && details.counterexample) throw new Error(`${describeScenario(details.counterexample[0])}\n${String(details.errorInstance)}`);
      } },
    );
  });

  it('materializations (full and incremental), row for row', async () => {
    await fc.assert(
      fc.asyncProperty(scenarioArbitrary, async (scenario) => {
        await loadScenario(store, scenario, tables);
        await checkMaterializations(store, scenario, tables);
      }),
      { numRuns: Number(process.env.TRELLIS_PIT_RUNS ?? 200), reporter: (details) => {
        if (details.failed && details.counterexample) throw new Error(`${describeScenario(details.counterexample[0])}\n${String(details.errorInstance)}`);
      } },
    );
  });
});
