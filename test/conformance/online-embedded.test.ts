import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';
import { createEmbeddedOnlineStore } from '../../adapters/embedded-online/index.js';
import { runOnlineStoreConformance } from '../../src/spi/testkit/online-store-conformance.js';

const root = await mkdtemp(join(tmpdir(), 'trellis-online-embedded-'));

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

runOnlineStoreConformance('embedded-online', (namespace) => createEmbeddedOnlineStore({ dir: join(root, namespace), expirySweepIntervalMs: 100 }));
