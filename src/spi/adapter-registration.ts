/**
 * How an adapter makes a provider type available. An adapter package exports one registration (or several);
 * Trellis builds the roles it names from a provider's config when a job or a read needs them.
 *
 * @example
 * export const myStore: AdapterRegistration = {
 *   kind: 'trellis.adapter', id: 'my-kv', roles: ['online'],
 *   createOnline: async (config) => createMyKvStore(config),
 * };
 */
export type ProviderRole = 'offline' | 'online' | 'stream';

/** Resolved provider configuration: secret references already replaced by their values. */
export type ProviderConfig = Readonly<Record<string, unknown>>;

/**
 * Thrown by {@link AdapterRegistration.validateConfig}: `path` is the JSON pointer of the bad key inside the config
 * (`/sasl/mechanism`; `''` for the config as a whole), `reason` says what is wrong with it. Apply answers 400 at
 * `/resources/N/config<path>`. Checked by its `kind` tag, so a plugin bundling its own copy of the SPI works too.
 */
export class ProviderConfigError extends Error {
  readonly kind = 'trellis.provider-config-error';
  constructor(
    readonly path: string,
    readonly reason: string,
    message = `config${path}: ${reason}`,
  ) {
    super(message);
  }
}

/** True for a secret reference (`env:NAME`, `file:/path`): a string whose value apply-time checks cannot see. */
export const isSecretReference = (value: unknown): boolean => typeof value === 'string' && (value.startsWith('env:') || value.startsWith('file:/'));

export interface AdapterContext {
  /** Directory this provider instance may keep its files in (created on demand by the adapter). */
  readonly dataDir: string;
  /** The Trellis data directory; relative file paths in a provider config resolve against it. */
  readonly baseDir: string;
  /** Provider resource this instance serves, as `name@variant`. */
  readonly provider: string;
}

/** Where a tile store may keep its files: `dataDir` null means in memory (an ephemeral Trellis, tests). */
export interface TileStoreContext extends Omit<AdapterContext, 'dataDir'> {
  readonly dataDir: string | null;
}

export interface AdapterRegistration<Offline = unknown, Online = unknown, Stream = unknown> {
  /** Tag checked instead of `instanceof` (a plugin may bundle its own copy of the SPI). */
  readonly kind: 'trellis.adapter';
  /** Provider type this adapter serves; kebab-case, unique. */
  readonly id: string;
  readonly roles: readonly ProviderRole[];
  readonly createOffline?: (config: ProviderConfig, ctx: AdapterContext) => Promise<Offline>;
  readonly createOnline?: (config: ProviderConfig, ctx: AdapterContext) => Promise<Online>;
  readonly createStream?: (config: ProviderConfig, ctx: AdapterContext) => Promise<Stream>;
  /**
   * Online adapters that can keep stream tiles (tile-store.ts) in the same KV store as the online values: stream
   * features served from this provider type keep their tiles here. Without it, such a feature is refused at apply.
   */
  readonly createTileStore?: (config: ProviderConfig, ctx: TileStoreContext) => Promise<unknown>;
  /**
   * Checks a provider's config at apply, before anything is stored; throws a {@link ProviderConfigError} naming the
   * bad key. It sees the config as written: secret references are unresolved strings (see {@link isSecretReference}),
   * so accept a reference wherever a string goes. Without it, a bad config is only reported when the adapter is built.
   */
  readonly validateConfig?: (config: ProviderConfig) => void;
}

/** One entry of {@link AdapterCatalogue.list}. */
export interface AdapterInfo {
  readonly id: string;
  readonly roles: ProviderRole[];
  /** `trellis built-ins`, or the plugin module it was loaded from. */
  readonly origin: string;
  /** Stream features served from this provider type keep their tiles in it (createTileStore). */
  readonly keepsStreamTiles: boolean;
  /** Apply checks a provider config of this type (validateConfig). */
  readonly checksConfig: boolean;
}

/** What {@link AdapterCatalogue.checkConfig} found wrong: a pointer inside the config and the reason. */
export interface ProviderConfigProblem {
  readonly path: string;
  readonly reason: string;
}

const ADAPTER_ID = /^[a-z][a-z0-9]*(-[a-z0-9]+)*$/;

/** The adapters known to one Trellis instance. Registration validates loudly. */
export class AdapterCatalogue {
  readonly #byId = new Map<string, { registration: AdapterRegistration; origin: string }>();

  register(registration: AdapterRegistration, origin = 'unknown'): this {
    if (registration?.kind !== 'trellis.adapter') throw new Error(`adapter from ${origin} is not tagged kind: 'trellis.adapter'`);
    if (!ADAPTER_ID.test(registration.id)) throw new Error(`adapter id ${JSON.stringify(registration.id)} from ${origin} is not kebab-case (${ADAPTER_ID.source})`);
    const existing = this.#byId.get(registration.id);
    if (existing) throw new Error(`adapter id ${registration.id} registered twice: by ${existing.origin} and by ${origin}`);
    if (registration.createTileStore && !registration.roles.includes('online')) throw new Error(`adapter ${registration.id} from ${origin} has createTileStore but not the online role (tiles live in the online store)`);
    for (const role of registration.roles) {
      const factory = { offline: registration.createOffline, online: registration.createOnline, stream: registration.createStream }[role];
      if (!factory) throw new Error(`adapter ${registration.id} from ${origin} claims role ${role} but has no factory for it`);
    }
    this.#byId.set(registration.id, { registration, origin });
    return this;
  }

  get(id: string): AdapterRegistration | undefined {
    return this.#byId.get(id)?.registration;
  }

  /** Runs the adapter's {@link AdapterRegistration.validateConfig} on a config as written; undefined when it passes. */
  checkConfig(type: string, config: ProviderConfig): ProviderConfigProblem | undefined {
    const validate = this.#byId.get(type)?.registration.validateConfig;
    if (!validate) return undefined;
    try {
      validate(config);
      return undefined;
    } catch (error) {
      const e = error as Partial<ProviderConfigError>;
      if (e?.kind === 'trellis.provider-config-error' && typeof e.path === 'string' && typeof e.reason === 'string') return { path: e.path, reason: e.reason };
      return { path: '', reason: (error as Error)?.message ?? String(error) };
    }
  }

  /** Every registered adapter: its id, roles, where it came from, and what it offers beyond its roles. */
  list(): AdapterInfo[] {
    return [...this.#byId].map(([id, { registration, origin }]) => ({
      id,
      roles: [...registration.roles],
      origin,
      keepsStreamTiles: registration.createTileStore !== undefined,
      checksConfig: registration.validateConfig !== undefined,
    }));
  }

  /** Online provider types whose adapters keep stream tiles (createTileStore). */
  tileStoreTypes(): string[] {
    return this.list().filter((a) => a.keepsStreamTiles).map((a) => a.id);
  }

  /** Provider types and their roles, for apply-time validation. */
  providerTypes(): ReadonlyMap<string, readonly ProviderRole[]> {
    return new Map([...this.#byId].map(([id, { registration }]) => [id, registration.roles]));
  }
}
