import { createHash } from 'node:crypto';
import type {
  FeatureSpec,
  LabelSpec,
  Relation,
  ResourceReference,
  SourceSpec,
  StreamWindowFeatureSpec,
  TableRef,
  TrainingSetSpec,
  TransformationSpec,
} from '../../compiler/index.js';
import { transformationReferences } from '../../compiler/index.js';
import { isTrellisError } from '../../errors/trellis-error.js';
import type { Registry, StoredResource } from '../../registry/registry.js';
import { durationSeconds, formatRef, parseRef } from '../../registry/resource-ref.js';
import type {
  EntityDefinition,
  FeatureDefinition,
  LabelDefinition,
  SourceDefinition,
  TrainingSetDefinition,
  TransformationDefinition,
} from '../../registry/resource-schemas.js';
import { streamFeatureOverCopy } from '../../streaming/stream-backfill.js';
import { streamFeatureShape, streamSourceSpec } from '../../streaming/stream-job.js';
import { PermanentError } from '../task-errors.js';

/**
 * Registry resources → compiler specs. The registry stores definitions with every reference pinned
 * (`name@variant`, `{{ name.variant }}`), so a spec built here never changes for a given variant.
 *
 * Physical tables Trellis creates in a customer's warehouse (in the provider's default schema):
 * - a transformation's output: `trellis_<name>__<variant>`;
 * - a training set: `trellis_ts__<name>__<variant>`.
 * `__` is reserved in resource names and variants, so neither name can collide with the other or with a second
 * resource. A name longer than 63 bytes (Postgres truncates identifiers there) becomes
 * `<first 50 chars>_<10 hex of its SHA-256>`.
 */
export const transformationTable = (name: string, variant: string): TableRef => ({ name: physicalName(`trellis_${name}__${variant}`) });

/** The table a training set is built into (see {@link transformationTable} for the naming rule). */
export const trainingSetTable = (name: string, variant: string): TableRef => ({ name: physicalName(`trellis_ts__${name}__${variant}`) });

function physicalName(full: string): string {
  if (full.length <= 63) return full;
  return `${full.slice(0, 50)}_${createHash('sha256').update(full).digest('hex').slice(0, 10)}`;
}

/** `table` of a source definition: `name`, `schema.name` or `catalog.schema.name`. */
export function tableRefOf(table: string): TableRef {
  const parts = table.split('.');
  if (parts.some((p) => p.length === 0) || parts.length > 3) throw new PermanentError(`invalid table name ${JSON.stringify(table)}: expected name, schema.name or catalog.schema.name`);
  if (parts.length === 3) return { catalog: parts[0]!, schema: parts[1]!, name: parts[2]! };
  if (parts.length === 2) return { schema: parts[0]!, name: parts[1]! };
  return { name: parts[0]! };
}

/** A source or transformation as something to read: its relation in its offline provider. */
export interface ReadableInput {
  readonly kind: 'source' | 'transformation';
  readonly ref: string;
  /** Pinned offline provider ref. */
  readonly provider: string;
  readonly relation: Relation;
  readonly timestampColumn: string;
  readonly createdTimestampColumn: string | undefined;
}

/** Reads registry definitions and turns them into compiler specs. */
export class CompileInputs {
  readonly #registry: Registry;

  constructor(registry: Registry) {
    this.#registry = registry;
  }

  /** A pinned ref of a source or a transformation (their names never clash). */
  async readable(ref: string): Promise<ReadableInput> {
    const { name, variant } = parseRef(ref);
    const stored = await this.#registry.get('source', name, variant).catch(async (error: unknown) => {
      if (isTrellisError(error) && error.code === 'TRELLIS_ERR_NOT_FOUND') return this.#registry.get('transformation', name, variant);
      throw error;
    });
    const def = stored.definition;
    const pinned = formatRef(stored.name, stored.variant);
    if (def.kind === 'transformation') {
      return {
        kind: 'transformation',
        ref: pinned,
        provider: def.provider,
        relation: transformationTable(stored.name, stored.variant),
        timestampColumn: def.timestampColumn,
        createdTimestampColumn: def.createdTimestampColumn,
      };
    }
    const source = def as SourceDefinition;
    if (source.topic !== undefined) throw new PermanentError(`source ${pinned} is a stream (topic ${source.topic}); batch tasks read tables and queries only`);
    let relation: Relation;
    if (source.query !== undefined) relation = { sql: source.query };
    else if (source.table !== undefined) relation = tableRefOf(source.table);
    else throw new PermanentError(`source ${pinned} has neither table nor query`);
    return { kind: 'source', ref: pinned, provider: source.provider, relation, timestampColumn: source.timestampColumn, createdTimestampColumn: source.createdTimestampColumn };
  }

  async entity(ref: string): Promise<EntityDefinition> {
    const { name, variant } = parseRef(ref);
    return (await this.#registry.get('entity', name, variant)).definition as EntityDefinition;
  }

  /** A stored feature as a compiler spec, with its offline provider. `lagSeconds` comes from a training set. */
  async feature(stored: StoredResource, lagSeconds?: number): Promise<{ spec: FeatureSpec; provider: string; input: ReadableInput; entity: EntityDefinition; def: FeatureDefinition }> {
    const def = stored.definition as FeatureDefinition;
    const [input, entity] = await Promise.all([this.readable(def.source), this.entity(def.entity)]);
    const ref = formatRef(stored.name, stored.variant);
    const source: SourceSpec = {
      relation: input.relation,
      timestampColumn: def.timestampColumn ?? input.timestampColumn,
      ...(input.createdTimestampColumn !== undefined ? { createdTimestampColumn: input.createdTimestampColumn } : {}),
    };
    let aggregation: FeatureSpec['aggregation'];
    if (def.aggregation) {
      const { fn, column, window } = def.aggregation;
      if (fn === 'last') throw new PermanentError(`feature ${ref}: aggregation "last" is computed by stream workers only; a batch feature uses column instead`);
      aggregation = { fn, windowSeconds: durationSeconds(window), ...(column !== undefined ? { column } : {}) };
    } else if (def.column === undefined) {
      throw new PermanentError(`feature ${ref} has neither column nor aggregation`);
    }
    const spec: FeatureSpec = {
      name: stored.name,
      variant: stored.variant,
      source,
      entityKeyColumns: def.keyColumns ?? entity.keys.map((k) => k.name),
      valueColumn: def.column ?? '',
      // A window bounds an aggregation; the compiler refuses a ttl on it.
      ...(def.ttl !== undefined && !aggregation ? { ttlSeconds: durationSeconds(def.ttl) } : {}),
      ...(lagSeconds !== undefined && lagSeconds > 0 ? { lagSeconds } : {}),
      ...(aggregation ? { aggregation } : {}),
    };
    return { spec, provider: input.provider, input, entity, def };
  }

  /**
   * A stream feature as a training set reads it: the same window as its tiles, over the topic's offline copy
   * (`offlineCopy` of the source; a push-only source's own table or query by default). Undefined for a batch feature.
   */
  async streamFeature(stored: StoredResource, lagSeconds?: number): Promise<{ spec: StreamWindowFeatureSpec; provider: string } | undefined> {
    const def = stored.definition as FeatureDefinition;
    const ref = formatRef(stored.name, stored.variant);
    const { name, variant } = parseRef(def.source);
    const source = await this.#registry.get('source', name, variant).catch(() => undefined); // a transformation
    const sourceDef = source?.definition as SourceDefinition | undefined;
    // Served from tiles (see servesFromTiles): a topic source, or a push-only source whose own table holds its events.
    if (!source || sourceDef?.fields === undefined) return undefined;
    const sourceRef = formatRef(source.name, source.variant);
    const copyRef = sourceDef.offlineCopy?.source ?? (sourceDef.topic === undefined ? sourceRef : undefined);
    if (copyRef === undefined) throw new PermanentError(`feature ${ref} reads topic source ${sourceRef}, which names no offlineCopy; a training set reads a topic's events from their copy in a warehouse`);
    const [copy, entity] = await Promise.all([this.readable(copyRef), this.entity(def.entity)]);
    const shape = streamFeatureShape(ref, def, entity.keys.map((k) => k.name), streamSourceSpec(sourceRef, sourceDef));
    const spec = streamFeatureOverCopy(shape, {
      source: { relation: copy.relation, timestampColumn: copy.timestampColumn },
      ...(sourceDef.offlineCopy?.orderColumns ? { orderColumns: sourceDef.offlineCopy.orderColumns } : {}),
    });
    // The online read applies a ttl to `last` values only (an aggregation's served time is its window end).
    const ttlSeconds = def.ttl !== undefined && spec.fn === 'last' ? durationSeconds(def.ttl) : undefined;
    return {
      spec: { ...spec, ...(lagSeconds !== undefined && lagSeconds > 0 ? { lagSeconds } : {}), ...(ttlSeconds !== undefined ? { ttlSeconds } : {}) },
      provider: copy.provider,
    };
  }

  async label(ref: string): Promise<{ spec: LabelSpec; provider: string }> {
    const { name, variant } = parseRef(ref);
    const stored = await this.#registry.get('label', name, variant);
    const def = stored.definition as LabelDefinition;
    const [input, entity] = await Promise.all([this.readable(def.source), this.entity(def.entity)]);
    return {
      spec: {
        name: stored.name,
        variant: stored.variant,
        source: {
          relation: input.relation,
          timestampColumn: def.timestampColumn ?? input.timestampColumn,
          ...(input.createdTimestampColumn !== undefined ? { createdTimestampColumn: input.createdTimestampColumn } : {}),
        },
        entityKeyColumns: def.keyColumns ?? entity.keys.map((k) => k.name),
        valueColumn: def.column,
      },
      provider: input.provider,
    };
  }

  /**
   * A training set: the label spine joined with its features (lags from the definition). Output key columns are
   * named after the label's entity keys, so the built table reads like the entities it describes.
   */
  async trainingSet(stored: StoredResource): Promise<{ spec: TrainingSetSpec; provider: string }> {
    const def = stored.definition as TrainingSetDefinition;
    const label = await this.label(def.label);
    const labelDef = (await this.#registry.get('label', label.spec.name, label.spec.variant)).definition as LabelDefinition;
    const entity = await this.entity(labelDef.entity);
    const features = await Promise.all(
      def.features.map(async (f) => {
        const ref = typeof f === 'string' ? f : f.feature;
        const lag = typeof f === 'string' || f.lag === undefined ? undefined : durationSeconds(f.lag);
        const { name, variant } = parseRef(ref);
        const stored = await this.#registry.get('feature', name, variant);
        const feature = (await this.streamFeature(stored, lag)) ?? (await this.feature(stored, lag));
        if (feature.provider !== label.provider) {
          throw new PermanentError(`feature ${ref} lives in provider ${feature.provider} but the label in ${label.provider}`);
        }
        return feature.spec;
      }),
    );
    return { spec: { label: label.spec, features, keyNames: entity.keys.map((k) => k.name) }, provider: label.provider };
  }

  /**
   * A transformation: its pinned `{{ name.variant }}` references resolved to physical tables in the same provider
   * (a source's table, or another transformation's output table).
   */
  async transformation(stored: StoredResource): Promise<{ spec: TransformationSpec; provider: string; def: TransformationDefinition }> {
    const def = stored.definition as TransformationDefinition;
    const ref = formatRef(stored.name, stored.variant);
    const tables = new Map<string, TableRef>();
    for (const reference of transformationReferences(def.sql)) {
      const pinned = reference.variant === undefined ? reference.name : formatRef(reference.name, reference.variant);
      const input = await this.readable(pinned);
      if (input.provider !== def.provider) throw new PermanentError(`transformation ${ref}: ${input.ref} lives in provider ${input.provider}, not ${def.provider}`);
      if ('sql' in input.relation) {
        throw new PermanentError(`transformation ${ref}: source ${input.ref} is a query; a transformation references tables (inline the query or point the source at a table or view)`);
      }
      tables.set(referenceKey(reference), input.relation);
    }
    const spec: TransformationSpec = {
      sql: def.sql,
      resolve: (reference) => {
        const table = tables.get(referenceKey(reference));
        if (!table) throw new PermanentError(`transformation ${ref}: unresolved reference {{ ${reference.name}${reference.variant ? `.${reference.variant}` : ''} }}`);
        return table;
      },
      output: transformationTable(stored.name, stored.variant),
      ...(def.incremental ? { incremental: { watermarkColumn: def.incremental.watermarkColumn } } : {}),
    };
    return { spec, provider: def.provider, def };
  }
}

const referenceKey = (reference: ResourceReference) => `${reference.name}\u0000${reference.variant ?? ''}`;
