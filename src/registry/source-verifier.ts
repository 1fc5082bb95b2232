/**
 * The apply-time check of sources: a source whose table does not exist, or a feature/label reading a column its
 * source lacks, is refused with a 400 naming it — not a run that fails hours later.
 *
 * The registry collects one {@link SourceCheck} per relation a new resource reads (before its apply transaction,
 * so no registry connection is held while a warehouse answers), and a {@link SourceVerifier} asks each offline
 * provider's introspector about them, time-boxed per provider. What is checked:
 * - a source with `table`: the table exists, with its `timestampColumn` and `createdTimestampColumn`;
 * - a source with `query`: the query runs (result columns through the introspector), with those columns;
 * - a feature or label over a source: its key columns, value/aggregated column and timestamp column(s) exist in
 *   the source's relation.
 * Not checked: features and labels over a transformation (its output table is created by its first run, so it
 * does not exist at apply; a wrong column there fails that run with the engine's message), stream sources (topics
 * have declared `fields`), and resources that are unchanged re-applies.
 */
import { isTrellisError, TrellisError, invalidDefinition } from '../errors/trellis-error.js';
import { isQueryRelation, type Relation, type TableRef } from '../compiler/plan/plan-types.js';
import { missingColumns, type OfflineStore } from '../spi/offline-store.js';
import type { ProviderDefinition } from './resource-schemas.js';

/** A column a resource reads, and the JSON pointer of the field that names it. */
export interface CheckedColumn {
  readonly name: string;
  readonly pointer: string;
}

/** One relation to look up in one offline provider, with the columns read from it. */
export interface SourceCheck {
  /** Pinned offline provider ref (`name@variant`). */
  readonly provider: string;
  readonly providerDefinition: ProviderDefinition;
  /** The provider is stored in the registry with exactly this definition (its pooled store may be used). */
  readonly providerRegistered: boolean;
  readonly relation: Relation;
  /** How to name the relation in an error: `events`, `analytics.events`, `the query of source s@v`. */
  readonly label: string;
  /** Pointer of the field naming the relation (`/resources/3/table`, `/resources/5/source`). */
  readonly pointer: string;
  readonly columns: readonly CheckedColumn[];
}

/** A store to introspect and how to give it back (close a temporary one, keep a pooled one). */
export interface OfflineStoreHandle {
  readonly store: Pick<OfflineStore, 'introspector' | 'compiler'>;
  release(): Promise<void>;
}

export type OpenOfflineStore = (provider: string, definition: ProviderDefinition, registered: boolean) => Promise<OfflineStoreHandle>;

export interface SourceVerifier {
  /** Resolves when every check passes; rejects with the first failure as a coded {@link TrellisError}. */
  verify(checks: readonly SourceCheck[]): Promise<void>;
}

/** Default time box of one provider's checks (opening the store included). */
export const DEFAULT_VERIFY_TIMEOUT_MS = 15_000;

/** `name`, `schema.name` or `catalog.schema.name` → a table ref; `undefined` when malformed (an empty part, > 3 parts). */
export function parseTableName(table: string): TableRef | undefined {
  const parts = table.split('.');
  if (parts.some((p) => p.length === 0) || parts.length > 3) return undefined;
  if (parts.length === 3) return { catalog: parts[0]!, schema: parts[1]!, name: parts[2]! };
  if (parts.length === 2) return { schema: parts[0]!, name: parts[1]! };
  return { name: parts[0]! };
}

class VerifyTimeout extends Error {}

/**
 * A verifier over `open`. Providers are checked one after another (checks of one provider in the order given),
 * so the first failure reported is the first in the request; each provider gets `timeoutMs` in all.
 */
export function createSourceVerifier(open: OpenOfflineStore, options: { timeoutMs?: number } = {}): SourceVerifier {
  const timeoutMs = options.timeoutMs ?? DEFAULT_VERIFY_TIMEOUT_MS;
  return {
    async verify(checks) {
      const byProvider = new Map<string, SourceCheck[]>();
      for (const check of checks) byProvider.set(check.provider, [...(byProvider.get(check.provider) ?? []), check]);
      for (const group of byProvider.values()) await verifyProvider(open, group, timeoutMs);
    },
  };
}

async function verifyProvider(open: OpenOfflineStore, checks: readonly SourceCheck[], timeoutMs: number): Promise<void> {
  const first = checks[0]!;
  let timer: NodeJS.Timeout | undefined;
  let timedOut = false;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      timedOut = true;
      reject(new VerifyTimeout(`no answer within ${timeoutMs} ms`));
    }, timeoutMs);
  });
  expired.catch(() => {});
  const boxed = <T>(work: Promise<T>): Promise<T> => {
    work.catch(() => {});
    return Promise.race([work, expired]);
  };
  const unverified = (check: SourceCheck, error: unknown) => {
    const reason = isTrellisError(error) && typeof error.params.reason === 'string' ? error.params.reason : error instanceof Error ? error.message.split('\n')[0]! : String(error);
    return new TrellisError('TRELLIS_ERR_SOURCE_UNVERIFIED', { pointer: check.pointer, provider: check.provider, reason }, { details: { pointer: check.pointer, provider: check.provider }, cause: error });
  };

  const opening = open(first.provider, first.providerDefinition, first.providerRegistered);
  let handle: OfflineStoreHandle;
  try {
    handle = await boxed(opening);
  } catch (error) {
    clearTimeout(timer);
    // A store that opens after the deadline is closed as soon as it does.
    if (error instanceof VerifyTimeout) void opening.then((h) => h.release()).catch(() => {});
    throw unverified(first, error);
  }
  // Many features usually read one table: introspect each relation once per apply.
  const described = new Map<string, ReturnType<OfflineStoreHandle['store']['introspector']['columns']>>();
  const store: OfflineStoreHandle['store'] = {
    compiler: handle.store.compiler,
    introspector: {
      listTables: (options) => handle.store.introspector.listTables(options),
      columns: (relation) => {
        const key = JSON.stringify(relation);
        if (!described.has(key)) described.set(key, handle.store.introspector.columns(relation));
        return described.get(key)!;
      },
    },
  };
  try {
    for (const check of checks) {
      let missing: string[] | undefined;
      try {
        missing = await boxed(missingColumns(store, check.relation, check.columns.map((c) => c.name)));
      } catch (error) {
        if (error instanceof VerifyTimeout) throw unverified(check, error);
        // A query relation that fails on a store that answers a trivial query is the query's fault.
        if (isQueryRelation(check.relation)) {
          const reachable = await boxed(handle.store.introspector.columns({ sql: 'SELECT 1 AS one' })).then(() => true, () => false);
          if (reachable) throw invalidDefinition(check.pointer, `${check.label} does not run in provider ${check.provider}: ${(error as Error).message.split('\n')[0]}`);
        }
        throw unverified(check, error);
      }
      if (missing === undefined) {
        throw new TrellisError('TRELLIS_ERR_MISSING_TABLE', { table: check.label, provider: check.provider, pointer: check.pointer }, { details: { pointer: check.pointer, table: check.label, provider: check.provider } });
      }
      if (missing.length > 0) {
        const column = check.columns.find((c) => c.name === missing![0])!;
        throw new TrellisError(
          'TRELLIS_ERR_MISSING_COLUMN',
          { column: column.name, table: check.label, provider: check.provider, pointer: column.pointer },
          { details: { pointer: column.pointer, column: column.name, table: check.label, provider: check.provider } },
        );
      }
    }
  } finally {
    clearTimeout(timer);
    // Never wait on a store that stopped answering: release it in the background.
    if (timedOut) void handle.release().catch(() => {});
    else await handle.release().catch(() => {});
  }
}
