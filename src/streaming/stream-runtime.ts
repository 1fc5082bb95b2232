import { createHash } from 'node:crypto';
import path from 'node:path';
import { builtinAdapters } from '../builtin-adapters.js';
import { resolveSecretReferences } from '../config/secret-references.js';
import { TrellisError } from '../errors/trellis-error.js';
import type { Registry } from '../registry/registry.js';
import { parseRef, formatRef } from '../registry/resource-ref.js';
import type { EntityKeyValue } from '../spi/online-store.js';
import type { AdapterCatalogue } from '../spi/adapter-registration.js';
import { STREAM_PROVIDER_KIND, isStreamProvider } from '../spi/stream-provider.js';
import { TILE_STORE_KIND, isTileStore, type TileStore } from '../spi/tile-store.js';
import { resolveStreamFeature, resolveStreamJob, type StreamFeatureSpec, type StreamJob } from './stream-job.js';
import { StreamMetrics } from './stream-metrics.js';
import type { StreamProvider } from '../spi/stream-provider.js';
import { readStreamFeatures, type StreamCell } from './stream-reader.js';
import { StreamWorker, type StreamWorkerOptions } from './stream-worker.js';

type Config = Readonly<Record<string, unknown>>;

export interface StreamRuntimeOptions {
  /** The Trellis data directory (embedded tiles go to `<dataDir>/providers/<provider>.tiles`); null: in memory. */
  readonly dataDir: string | null;
  readonly metrics?: StreamMetrics;
  /** The adapters that build stream providers (createStream) and tile stores (createTileStore). Default: the built-ins. */
  readonly adapters?: AdapterCatalogue;
}

/**
 * Per-process streaming services over the registry: stream providers (Kafka clients) and tile stores built lazily
 * from provider definitions (secrets resolved), stream workers per source, and the read-side combine. One instance
 * per process: embedded tile stores own their directory. The coordinator starts workers with {@link startWorker};
 * the online read path calls {@link readFeatures}; the push API uses {@link provider} / {@link tileStore}.
 */
export class StreamRuntime {
  readonly metrics: StreamMetrics;
  readonly #registry: Registry;
  readonly #dataDir: string | null;
  readonly #adapters: AdapterCatalogue;
  /** Per provider ref: the client built from one version of its resolved config (a digest, never the secrets). */
  readonly #providers = new Map<string, { readonly version: string; readonly provider: Promise<StreamProvider> }>();
  /** Clients replaced by a newer config; a worker may still use one, so they close with the runtime. */
  readonly #retired: Promise<StreamProvider>[] = [];
  readonly #tileStores = new Map<string, Promise<TileStore>>();
  readonly #workers = new Set<StreamWorker>();
  readonly #features = new Map<string, Promise<StreamFeatureSpec>>();

  constructor(registry: Registry, options: StreamRuntimeOptions) {
    this.#registry = registry;
    this.#dataDir = options.dataDir;
    this.#adapters = options.adapters ?? builtinAdapters();
    this.metrics = options.metrics ?? new StreamMetrics();
  }

  /**
   * The stream provider (e.g. a Kafka connection) of a provider resource. The config is resolved on every call: a
   * provider deleted and applied again with another config, or a rotated `file:` secret, gets a new client.
   */
  async provider(providerRef: string): Promise<StreamProvider> {
    const { type, config, id } = await this.#providerDefinition(providerRef);
    const version = createHash('sha256').update(JSON.stringify([type, config])).digest('hex');
    const cached = this.#providers.get(providerRef);
    if (cached?.version === version) return cached.provider;
    if (cached) this.#retired.push(cached.provider);
    const factory = this.#adapters.get(type)?.createStream;
    if (!factory) throw new TrellisError('TRELLIS_ERR_PROVIDER_UNAVAILABLE', { provider: id, reason: `no stream adapter for type ${type}` });
    const { dataDir, ...context } = this.#context(id, `${id}.stream`);
    const provider = factory(config, { ...context, dataDir: dataDir ?? path.resolve(context.baseDir, 'providers', `${id}.stream`) }).then((built) => {
      if (!isStreamProvider(built)) throw new Error(`adapter ${type} returned something that is not a stream provider (kind ${STREAM_PROVIDER_KIND})`);
      return built;
    });
    const entry = { version, provider };
    this.#providers.set(providerRef, entry);
    provider.catch(() => this.#providers.get(providerRef) === entry && this.#providers.delete(providerRef));
    return provider;
  }

  /** The tile store of an online provider resource. */
  tileStore(onlineProviderRef: string): Promise<TileStore> {
    return this.#cached(this.#tileStores, onlineProviderRef, async () => {
      const { type, config, id } = await this.#providerDefinition(onlineProviderRef);
      const factory = this.#adapters.get(type)?.createTileStore;
      if (!factory) throw new TrellisError('TRELLIS_ERR_PROVIDER_UNAVAILABLE', { provider: id, reason: `online provider type ${type} cannot keep stream tiles` });
      const store = await factory(config, this.#context(id, `${id}.tiles`));
      if (!isTileStore(store)) throw new Error(`adapter ${type} returned something that is not a tile store (kind ${TILE_STORE_KIND})`);
      return store;
    });
  }

  /** The adapter context of a provider: its files under `<dataDir>/providers/<dir>`, or in memory without a data directory. */
  #context(provider: string, dir: string) {
    return {
      provider,
      baseDir: this.#dataDir ?? process.cwd(),
      dataDir: this.#dataDir === null ? null : path.resolve(this.#dataDir, 'providers', dir),
    };
  }

  /** Starts one consumer-group member for a topic source (call it once per replica). */
  async startWorker(
    sourceRef: string,
    options: Pick<StreamWorkerOptions, 'groupId' | 'fromBeginning' | 'partitionsConsumedConcurrently' | 'onBatch' | 'onCrash' | 'onError' | 'maxMessagesPerWrite'> & { readonly job?: StreamJob } = {},
  ): Promise<StreamWorker> {
    const job = options.job ?? (await resolveStreamJob(this.#registry, sourceRef));
    const worker = new StreamWorker({
      ...options,
      job,
      provider: await this.provider(job.source.provider),
      tileStoreFor: (ref) => this.tileStore(ref),
      metrics: this.metrics,
    });
    this.#workers.add(worker);
    try {
      await worker.start();
    } catch (error) {
      this.#workers.delete(worker);
      await worker.stop();
      throw error;
    }
    return worker;
  }

  /** Stops one worker started by {@link startWorker} (it leaves its group). */
  async stopWorker(worker: StreamWorker): Promise<void> {
    this.#workers.delete(worker);
    await worker.stop();
  }

  /** The resolved stream feature (cached; call {@link invalidate} on registry changes). */
  feature(featureRef: string): Promise<StreamFeatureSpec> {
    return this.#cached(this.#features, featureRef, () => resolveStreamFeature(this.#registry, featureRef));
  }

  /** Stream feature values for entity keys at `nowMs` (see readStreamFeatures). */
  async readFeatures(featureRefs: readonly string[], keys: readonly (readonly EntityKeyValue[])[], nowMs = Date.now()): Promise<(StreamCell | null)[][]> {
    const features = await Promise.all(featureRefs.map((ref) => this.feature(ref)));
    return this.readSpecs(features, keys, nowMs);
  }

  /** Like {@link readFeatures} for features already resolved (the online read path keeps them in its plan). */
  async readSpecs(features: readonly StreamFeatureSpec[], keys: readonly (readonly EntityKeyValue[])[], nowMs = Date.now()): Promise<(StreamCell | null)[][]> {
    const stores = new Map<string, TileStore>();
    for (const f of features) if (!stores.has(f.onlineProvider)) stores.set(f.onlineProvider, await this.tileStore(f.onlineProvider));
    return readStreamFeatures((f) => stores.get((f as StreamFeatureSpec).onlineProvider)!, features, keys, nowMs);
  }

  invalidate(): void {
    this.#features.clear();
  }

  async #providerDefinition(ref: string): Promise<{ id: string; type: string; config: Config }> {
    const { name, variant } = parseRef(ref);
    const provider = await this.#registry.get('provider', name, variant);
    if (provider.definition.kind !== 'provider') throw new Error('unreachable');
    const id = formatRef(provider.name, provider.variant);
    return { id, type: provider.definition.type, config: resolveSecretReferences(provider.definition.config ?? {}, id) };
  }

  #cached<T>(map: Map<string, Promise<T>>, key: string, create: () => Promise<T>): Promise<T> {
    let value = map.get(key);
    if (!value) {
      value = create();
      value.catch(() => map.delete(key));
      map.set(key, value);
    }
    return value;
  }

  /** Stops every worker, then closes providers and tile stores. */
  async close(): Promise<void> {
    await Promise.all([...this.#workers].map((w) => w.stop()));
    this.#workers.clear();
    const all = [...[...this.#providers.values()].map((e) => e.provider), ...this.#retired.splice(0), ...this.#tileStores.values()];
    this.#providers.clear();
    this.#tileStores.clear();
    await Promise.all(all.map(async (p) => (await p.catch(() => null))?.close().catch(() => {})));
  }
}
