import path from 'node:path';
import { resolveSecretReferences } from '../config/secret-references.js';
import { TrellisError } from '../errors/trellis-error.js';
import type { AdapterCatalogue } from '../spi/adapter-registration.js';
import { isOfflineStore, type OfflineStore } from '../spi/offline-store.js';
import type { ProviderDefinition } from './resource-schemas.js';
import type { OpenOfflineStore } from './source-verifier.js';

export interface OfflineStoreOpenerOptions {
  readonly adapters: AdapterCatalogue;
  /** The Trellis data directory (providers' files live under it, as in the provider pool). */
  readonly dataDir: string;
  /** The process's shared store of a registered provider (embedded stores lock their files: reuse it). */
  readonly pooled: (provider: string) => Promise<OfflineStore>;
}

/**
 * Opens offline stores for the apply-time source check: a provider already registered with the same definition
 * is taken from the pool; a provider new in this apply gets a temporary store built from its definition (secrets
 * resolved), closed after the check.
 */
export function offlineStoreOpener(options: OfflineStoreOpenerOptions): OpenOfflineStore {
  return async (provider: string, definition: ProviderDefinition, registered: boolean) => {
    if (registered) return { store: await options.pooled(provider), release: async () => {} };
    const factory = options.adapters.get(definition.type)?.createOffline;
    if (!factory) throw new TrellisError('TRELLIS_ERR_PROVIDER_UNAVAILABLE', { provider, reason: `no offline adapter for type ${definition.type}` });
    const config = resolveSecretReferences(definition.config ?? {}, provider);
    const store = await factory(config, { dataDir: path.resolve(options.dataDir, 'providers', provider), baseDir: path.resolve(options.dataDir), provider });
    if (!isOfflineStore(store)) throw new Error(`adapter ${definition.type} returned something that is not an offline store`);
    return { store, release: () => store.close() };
  };
}
