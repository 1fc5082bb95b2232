import type { Registry } from '../registry/registry.js';
import { durationSeconds, formatRef, parseRef } from '../registry/resource-ref.js';
import type { FeatureDefinition, SourceDefinition, ValueType } from '../registry/resource-schemas.js';
import { TrellisError } from '../errors/trellis-error.js';
import type { TileFeature } from '../spi/tile-store.js';
import { tileLayout, type StreamAggregationFn } from './tiles.js';

/** A source field: name, declared type and where it is in an event (the source's `fields`). */
export interface StreamField {
  readonly name: string;
  readonly type: ValueType;
  /** JSON pointer into the event; absent: `/<name>` (a top-level member). */
  readonly path?: string;
}

/** Where a field is read in an event: its `path`, or the JSON pointer of the top-level member of its name. */
export function fieldPath(field: StreamField): string {
  return field.path ?? `/${field.name.replaceAll('~', '~0').replaceAll('/', '~1')}`;
}

/** A stream source as workers and the push API use it. */
export interface StreamSourceSpec {
  /** `name@variant`. */
  readonly id: string;
  /** Stream provider (`name@variant`). */
  readonly provider: string;
  /** Kafka topic; null for a push-only source (no topic: pushes write tiles directly). */
  readonly topic: string | null;
  /** Message values: JSON (absent or 'json'), or Avro in the schema registry wire format. */
  readonly format?: 'json' | 'avro';
  readonly fields: readonly StreamField[];
  /** The field holding the event time (epoch ms number or ISO-8601 text). */
  readonly timestampField: string;
  readonly allowedLatenessMs: number;
}

/** A tiled stream feature: its tiles, where they live and which fields feed it. */
export interface StreamFeatureSpec extends TileFeature {
  /** Online provider holding the tiles (`name@variant`). */
  readonly onlineProvider: string;
  /** Source fields giving the entity key, in the entity's key order. */
  readonly keyFields: readonly string[];
  /** The aggregated (or `last`) field; null for `count` of rows. */
  readonly valueField: string | null;
  readonly valueType: ValueType;
  readonly ttlSeconds: number | undefined;
}

/** Everything a worker needs for one source: the source and every stream feature over it. */
export interface StreamJob {
  readonly source: StreamSourceSpec;
  readonly features: readonly StreamFeatureSpec[];
}

const ms = (duration: string | undefined): number => (duration === undefined ? 0 : Math.round(durationSeconds(duration) * 1000));

/** A source definition as a stream source; throws TRELLIS_ERR_VALIDATION unless it has fields (topic or push-only). */
export function streamSourceSpec(id: string, def: SourceDefinition): StreamSourceSpec {
  if (!def.fields) throw new TrellisError('TRELLIS_ERR_VALIDATION', { pointer: '/source', reason: `source ${id} declares no fields, so it is not a stream source` });
  return Object.freeze({
    id,
    provider: def.provider,
    topic: def.topic ?? null,
    format: def.format ?? 'json',
    fields: def.fields,
    timestampField: def.timestampColumn,
    allowedLatenessMs: ms(def.allowedLateness),
  });
}

/**
 * A feature definition over a stream source as a tiled feature: `aggregation { fn, column?, window, slide? }` (a
 * sliding window when `slide` is given, tumbling otherwise) or a plain `column` (the unwindowed `last` value).
 */
export function streamFeatureSpec(id: string, def: FeatureDefinition, entityKeys: readonly string[], source: StreamSourceSpec): StreamFeatureSpec {
  if (!def.onlineProvider) throw new TrellisError('TRELLIS_ERR_VALIDATION', { pointer: '/onlineProvider', reason: `stream feature ${id} needs an onlineProvider to keep its tiles` });
  return Object.freeze({
    ...streamFeatureShape(id, def, entityKeys, source),
    entity: def.entity,
    onlineProvider: def.onlineProvider,
    valueType: def.valueType,
    ttlSeconds: def.ttl ? durationSeconds(def.ttl) : undefined,
  });
}

/** What a stream feature computes, wherever it is kept: its window layout and the fields it reads. */
export type StreamFeatureShape = Pick<StreamFeatureSpec, 'id' | 'layout' | 'keyFields' | 'valueField'>;

/** The {@link StreamFeatureShape} of a feature definition over a stream source (fields checked against the source). */
export function streamFeatureShape(id: string, def: FeatureDefinition, entityKeys: readonly string[], source: StreamSourceSpec): StreamFeatureShape {
  const fn: StreamAggregationFn = def.aggregation?.fn ?? 'last';
  const layout = def.aggregation
    ? tileLayout({ fn, windowMs: ms(def.aggregation.window), slideMs: def.aggregation.slide ? ms(def.aggregation.slide) : null, allowedLatenessMs: source.allowedLatenessMs })
    : tileLayout({ fn: 'last', windowMs: null, allowedLatenessMs: source.allowedLatenessMs });
  const keyFields = def.keyColumns ?? entityKeys;
  const valueField = def.aggregation ? (def.aggregation.column ?? null) : (def.column ?? null);
  for (const [i, f] of [...keyFields, ...(valueField ? [valueField] : [])].entries()) {
    if (!source.fields.some((s) => s.name === f)) {
      throw new TrellisError('TRELLIS_ERR_VALIDATION', { pointer: i < keyFields.length ? `/keyColumns/${i}` : '/column', reason: `field ${f} is not a field of source ${source.id}` });
    }
  }
  return { id, layout, keyFields, valueField };
}

/** Resolves a stream source and every feature with an online provider defined over it (downstream lineage). */
export async function resolveStreamJob(registry: Registry, sourceRef: string): Promise<StreamJob> {
  const { name, variant } = parseRef(sourceRef);
  const stored = await registry.get('source', name, variant);
  if (stored.definition.kind !== 'source') throw new Error('unreachable');
  const source = streamSourceSpec(formatRef(stored.name, stored.variant), stored.definition);
  const downstream = await registry.downstream({ kind: 'source', name: stored.name, variant: stored.variant });
  const features: StreamFeatureSpec[] = [];
  for (const id of downstream) {
    if (id.kind !== 'feature') continue;
    const feature = await registry.get('feature', id.name, id.variant);
    if (feature.definition.kind !== 'feature') continue;
    if (parseRef(feature.definition.source).name !== stored.name || (parseRef(feature.definition.source).variant ?? stored.variant) !== stored.variant) continue;
    // A feature without an online provider has no tiles to keep (it may still build training sets offline).
    if (!feature.definition.onlineProvider) continue;
    features.push(await featureSpec(registry, formatRef(feature.name, feature.variant), feature.definition, source));
  }
  return { source, features };
}

/** Resolves one stream feature (`name` or `name@variant`) for the read path. */
export async function resolveStreamFeature(registry: Registry, featureRef: string): Promise<StreamFeatureSpec> {
  const { name, variant } = parseRef(featureRef);
  const feature = await registry.get('feature', name, variant);
  if (feature.definition.kind !== 'feature') throw new Error('unreachable');
  const src = parseRef(feature.definition.source);
  const stored = await registry.get('source', src.name, src.variant);
  if (stored.definition.kind !== 'source') throw new Error('unreachable');
  const source = streamSourceSpec(formatRef(stored.name, stored.variant), stored.definition);
  return featureSpec(registry, formatRef(feature.name, feature.variant), feature.definition, source);
}

async function featureSpec(registry: Registry, id: string, def: FeatureDefinition, source: StreamSourceSpec): Promise<StreamFeatureSpec> {
  const e = parseRef(def.entity);
  const entity = await registry.get('entity', e.name, e.variant);
  if (entity.definition.kind !== 'entity') throw new Error('unreachable');
  return streamFeatureSpec(id, def, entity.definition.keys.map((k) => k.name), source);
}

/**
 * True when a source's features are served from tiles rather than from materialized online cells: a stream source,
 * i.e. one declaring `fields` (a topic source, or a push-only source whose pushes write tiles directly).
 */
export function servesFromTiles(def: SourceDefinition): boolean {
  return def.fields !== undefined;
}
