import { describe, expect, it } from 'vitest';
import { AdapterCatalogue, type AdapterContext, type ProviderConfig } from '../../src/spi/adapter-registration.js';
import { isOnlineStore, isOnlineStoreError, type OnlineStore } from '../../src/spi/online-store.js';
import { runOnlineStoreConformance } from '../../src/spi/testkit/online-store-conformance.js';
import memoryOnlineAdapter, { createMemoryOnlineStore } from '../fixtures/plugins/memory-online-plugin.js';

// Each namespace gets a new, empty store. The suite reopens a namespace only for stores declaring
// supportsPersistence or supportsSharedAccess, and this in-memory store declares neither.
// A short sweep interval lets the ttl-expiry check (supportsTtlExpiry) see stale cells go within its wait.
runOnlineStoreConformance('memory-kv plugin', async () => createMemoryOnlineStore({ expirySweepIntervalMs: 100 }));

describe('memory-kv plugin registration', () => {
  const validate = memoryOnlineAdapter.validateConfig!;

  /** What validateConfig throws for `config`, or undefined when it accepts it. */
  const rejection = (config: ProviderConfig): unknown => {
    try {
      validate(config);
      return undefined;
    } catch (error) {
      return error;
    }
  };

  it('accepts an empty config and a string name', () => {
    expect(rejection({})).toBeUndefined();
    expect(rejection({ name: 'x' })).toBeUndefined();
    expect(rejection({ name: 'env:MEMORY_KV_NAME' })).toBeUndefined();
  });

  it.each([
    { config: { nme: 'x' }, path: '/nme' },
    { config: { name: 'x', extra: true }, path: '/extra' },
    { config: { name: 3 }, path: '/name' },
    { config: { name: null }, path: '/name' },
  ])('rejects $config with a ProviderConfigError at $path', ({ config, path }) => {
    const error = rejection(config) as { kind?: unknown; path?: unknown; reason?: unknown } | undefined;
    expect(error?.kind).toBe('trellis.provider-config-error');
    expect(error?.path).toBe(path);
    expect(error?.reason).toEqual(expect.any(String));
    // The catalogue reports the same pointer at apply.
    const catalogue = new AdapterCatalogue().register(memoryOnlineAdapter, 'memory-online-plugin');
    expect(catalogue.checkConfig(memoryOnlineAdapter.id, config)?.path).toBe(path);
  });

  it('registers under its id and builds a separate, empty store per createOnline call, named after the provider', async () => {
    const catalogue = new AdapterCatalogue().register(memoryOnlineAdapter, 'memory-online-plugin');
    expect(catalogue.providerTypes().get('memory-kv')).toEqual(['online']);
    const ctx: AdapterContext = { dataDir: '/nonexistent/data', baseDir: '/nonexistent', provider: 'fast_kv@default' };
    const first = (await memoryOnlineAdapter.createOnline!({}, ctx)) as OnlineStore;
    const second = (await memoryOnlineAdapter.createOnline!({}, ctx)) as OnlineStore;
    try {
      expect(isOnlineStore(first)).toBe(true);
      expect(first).not.toBe(second);
      const ref = { entity: 'user', table: 'age@v1' };
      await first.ensureTable({ ...ref, valueType: 'int' });
      await first.writeBatch(ref.entity, ref.table, [{ key: ['u1'], value: 41, eventTs: 1 }]);
      expect(await first.read(ref.entity, [['u1']], [ref.table])).toEqual([[{ value: 41, eventTs: 1 }]]);
      expect(await second.getTable(ref)).toBeNull();
      expect(await second.read(ref.entity, [['u1']], [ref.table])).toEqual([[null]]);
    } finally {
      await Promise.all([first.close(), second.close()]);
    }
    const failure = await first.read('user', [['u1']], ['age@v1']).catch((error: unknown) => error);
    expect(isOnlineStoreError(failure, 'TRELLIS_ERR_ONLINE_UNAVAILABLE')).toBe(true);
    expect(isOnlineStoreError(failure) && failure.params).toMatchObject({ provider: ctx.provider });
  });
});
