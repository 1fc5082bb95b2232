import path from 'node:path';
import { resolveSecretReferences } from '../config/secret-references.js';
import { TrellisError, notFound } from '../errors/trellis-error.js';
import type { Registry } from '../registry/registry.js';
import { parseRef } from '../registry/resource-ref.js';
import type { AdapterCatalogue, ProviderRole } from '../spi/adapter-registration.js';
import { isOnlineStore, type OnlineStore } from '../spi/online-store.js';
import { isOfflineStore, type OfflineStore } from '../spi/offline-store.js';

/**
 * One adapter instance per (provider variant, role) in this process, built lazily from the registry's provider
 * definition with secrets resolved. Embedded stores lock their files, so sharing one instance is required.
 */
export class ProviderPool {
  readonly #registry: Registry;
  readonly #adapters: AdapterCatalogue;
  readonly #dataDir: string;
  readonly #instances = new Map<string, Promise<unknown>>();

  constructor(registry: Registry, adapters: AdapterCatalogue, dataDir: string) {
    this.#registry = registry;
    this.#adapters = adapters;
    this.#dataDir = dataDir;
  }

  async online(providerRef: string): Promise<OnlineStore> {
    const store = await this.#get(providerRef, 'online');
    if (!isOnlineStore(store)) throw new Error(`adapter for ${providerRef} returned something that is not an online store`);
    return store;
  }

  async offline(providerRef: string): Promise<OfflineStore> {
    const store = await this.#get(providerRef, 'offline');
    if (!isOfflineStore(store)) throw new Error(`adapter for ${providerRef} returned something that is not an offline store`);
    return store;
  }

  #get(providerRef: string, role: ProviderRole): Promise<unknown> {
    const key = `${role}\u0000${providerRef}`;
    let instance = this.#instances.get(key);
    if (!instance) {
      instance = this.#create(providerRef, role);
      // A failed construction is not cached: the next call retries (the service may be back).
      instance.catch(() => this.#instances.delete(key));
      this.#instances.set(key, instance);
    }
    return instance;
  }

  async #create(providerRef: string, role: ProviderRole): Promise<unknown> {
    const { name, variant } = parseRef(providerRef);
    const provider = await this.#registry.get('provider', name, variant);
    if (provider.definition.kind !== 'provider') throw notFound('provider', providerRef);
    const adapter = this.#adapters.get(provider.definition.type);
    const factory = adapter && { offline: adapter.createOffline, online: adapter.createOnline, stream: adapter.createStream }[role];
    if (!factory) throw new TrellisError('TRELLIS_ERR_PROVIDER_UNAVAILABLE', { provider: providerRef, reason: `no ${role} adapter for type ${provider.definition.type}` });
    const config = resolveSecretReferences(provider.definition.config ?? {}, providerRef);
    const dataDir = path.resolve(this.#dataDir, 'providers', `${provider.name}@${provider.variant}`);
    return factory(config, { dataDir, baseDir: path.resolve(this.#dataDir), provider: `${provider.name}@${provider.variant}` });
  }

  async close(): Promise<void> {
    const instances = [...this.#instances.values()];
    this.#instances.clear();
    await Promise.all(
      instances.map(async (p) => {
        const instance = (await p.catch(() => null)) as { close?: () => Promise<void> } | null;
        await instance?.close?.().catch(() => {});
      }),
    );
  }
}
