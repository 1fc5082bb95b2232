import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { buildApp } from './app.js';
import { ApiKeyStore } from './auth/api-keys.js';
import type { TrellisConfig } from './config/config-schema.js';
import { migrate } from './registry/migrations.js';
import { openPgliteDatabase, openPostgresDatabase, type RegistryDatabase } from './registry/registry-database.js';
import { Registry } from './registry/registry.js';
import { offlineStoreOpener } from './registry/offline-store-opener.js';
import { createSourceVerifier } from './registry/source-verifier.js';
import { builtinAdapters } from './builtin-adapters.js';
import { loadAdapterPlugins } from './spi/load-adapter-plugins.js';
import { Coordinator } from './coordinator/coordinator.js';
import { createTaskHandlers } from './coordinator/tasks/task-handlers.js';
import { FeatureCatalog } from './serving/feature-catalog.js';
import { OnlineReader } from './serving/online-reader.js';
import { ProviderPool } from './serving/provider-pool.js';
import { StreamRuntime } from './streaming/stream-runtime.js';
import { tileServing } from './streaming/stream-serving.js';
import { StreamSupervisor } from './streaming/stream-supervisor.js';

export interface Trellis {
  readonly app: FastifyInstance;
  readonly registry: Registry;
  readonly keys: ApiKeyStore;
  readonly db: RegistryDatabase;
  readonly providers: ProviderPool;
  readonly catalog: FeatureCatalog;
  readonly coordinator: Coordinator;
  /** Streaming services: Kafka clients, tile stores, push API and the tile read path. */
  readonly streams: StreamRuntime;
  /** Stream jobs of every stream feature (running when the coordinator is enabled). */
  readonly streamSupervisor: StreamSupervisor;
  /** A newly generated admin key (first start of an embedded instance), else null. */
  readonly generatedAdminKey: string | null;
  close(): Promise<void>;
}

/**
 * Opens the registry (Postgres or embedded PGlite), migrates it, ensures an admin key and builds the app.
 * `dataDir: ':memory:'` keeps the embedded registry in memory and provider files in a temporary directory
 * removed on close (tests, artifact generation).
 */
export interface OpenTrellisOptions {
  /**
   * Check new sources, features and labels against their offline provider at apply (default true). Tests about
   * something else than sources may opt out; a request can still opt out with `?verify=false`.
   */
  readonly verifySources?: boolean;
  /** Time box of one provider's apply-time checks, ms (default 15 000). */
  readonly verifyTimeoutMs?: number;
}

export async function openTrellis(config: TrellisConfig, options: OpenTrellisOptions = {}): Promise<Trellis> {
  const ephemeral = config.dataDir === ':memory:';
  const dataDir = ephemeral ? mkdtempSync(path.join(os.tmpdir(), 'trellis-')) : config.dataDir;
  const db = config.databaseUrl
    ? await openPostgresDatabase(config.databaseUrl)
    : await openPgliteDatabase(ephemeral ? null : path.join(dataDir, 'registry'));
  const cleanups: (() => Promise<void>)[] = [async () => db.close()];
  const closeAll = async () => {
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => {});
    if (ephemeral) rmSync(dataDir, { recursive: true, force: true });
  };
  try {
    await migrate(db);
    const adapters = builtinAdapters({ onlineTimeoutMs: config.serving.timeoutMs });
    const plugins = await loadAdapterPlugins(adapters, config.adapters);
    // The verifier reads registered providers from the pool, which needs the registry: bound just below.
    const pool: { current?: ProviderPool } = {};
    const verifier = options.verifySources === false ? undefined : createSourceVerifier(
      offlineStoreOpener({ adapters, dataDir, pooled: (provider) => pool.current!.offline(provider) }),
      options.verifyTimeoutMs !== undefined ? { timeoutMs: options.verifyTimeoutMs } : {},
    );
    const registry = new Registry(db, {
      providerTypes: adapters.providerTypes(),
      checkProviderConfig: (type, providerConfig) => adapters.checkConfig(type, providerConfig),
      tileStoreTypes: adapters.tileStoreTypes(),
      ...(verifier ? { verifier } : {}),
    });
    const keys = new ApiKeyStore(db);
    const generatedAdminKey = await keys.bootstrapAdmin(config.adminKey);
    const providers = new ProviderPool(registry, adapters, dataDir);
    pool.current = providers;
    cleanups.push(() => providers.close());
    const catalog = new FeatureCatalog(registry, db);
    await catalog.start();
    cleanups.push(() => catalog.close());
    const streams = new StreamRuntime(registry, { dataDir: ephemeral ? null : dataDir, adapters });
    cleanups.push(() => streams.close());
    const reader = new OnlineReader(catalog, providers, { maxEntities: config.serving.maxEntities, tiles: tileServing(registry, streams) });
    const coordinator = new Coordinator({
      db,
      registry,
      handlers: createTaskHandlers({ registry, providers }),
      concurrency: config.coordinator.concurrency,
    });
    // Logs through the app's logger once it exists (the supervisor starts after the app is built).
    const log: { current?: FastifyInstance['log'] } = {};
    const streamSupervisor = new StreamSupervisor({
      registry,
      streams,
      logger: { info: (message, fields) => log.current?.info(fields ?? {}, message), warn: (message, fields) => log.current?.warn(fields ?? {}, message) },
    });
    registry.onApplied(async (plan) => {
      await coordinator.onApplied(plan);
      streamSupervisor.changed();
    });
    if (config.coordinator.enabled) {
      await coordinator.start();
      cleanups.push(() => coordinator.stop());
    }
    const app = await buildApp(config, { registry, keys, reader, providers, streams, runs: { store: coordinator.store, triggers: coordinator.triggers! }, adapters });
    cleanups.push(() => app.close());
    log.current = app.log;
    if (plugins.length > 0) app.log.info({ adapters: plugins, modules: config.adapters }, 'adapter plugins loaded');
    if (config.coordinator.enabled) {
      await streamSupervisor.start();
      cleanups.push(() => streamSupervisor.stop());
    }
    return { app, registry, keys, db, providers, catalog, coordinator, streams, streamSupervisor, generatedAdminKey, close: closeAll };
  } catch (error) {
    await closeAll();
    throw error;
  }
}
