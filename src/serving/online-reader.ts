import { TrellisError } from '../errors/trellis-error.js';
import type { ValueType } from '../registry/resource-schemas.js';
import { decodeOnlineCell, onlineValueStatus, OnlineStoreBase, type EntityKeyValue, type OnlineStore, type OnlineValueStatus } from '../spi/online-store.js';
import type { FeatureCatalog, ServedFeature } from './feature-catalog.js';
import { encodedRowsJson, onlineJsonHead, placeEncodedRows, serializeOnlineResult } from './online-response-json.js';
import { evaluateExpression, type ExpressionValue } from './on-demand/expression-evaluator.js';
import { parseExpression, type Expression } from './on-demand/expression-parser.js';
import type { ProviderPool } from './provider-pool.js';
import type { TileServing } from '../streaming/stream-serving.js';
import { placeCells } from './place-cells.js';
import type { StreamFeatureSpec } from '../streaming/stream-job.js';

export interface OnlineReadRequest {
  readonly features?: readonly string[] | undefined;
  readonly featureService?: string | undefined;
  readonly entities: readonly Readonly<Record<string, unknown>>[];
  /** Request-time values on-demand features may read as `context.<name>`. */
  readonly context?: Readonly<Record<string, unknown>> | undefined;
}

export type ServedValue = string | number | boolean | readonly number[] | null;

export interface OnlineReadResult {
  /** Feature refs (`name@variant`) in the order of every row's arrays. */
  readonly features: string[];
  readonly results: {
    values: ServedValue[];
    statuses: OnlineValueStatus[];
    /** Event time of each value, epoch milliseconds; null when not found. */
    eventTimestamps: (number | null)[];
  }[];
}

/** Features of one (online provider, entity) pair, read together in one store call. */
interface ReadGroup {
  readonly provider: string;
  readonly entity: string;
  readonly keyNames: readonly string[];
  readonly keyTypes: readonly ValueType[];
  readonly tables: readonly string[];
  /** Position of each table's feature in the response arrays. */
  readonly positions: readonly number[];
  readonly ttls: readonly (number | undefined)[];
  /** Stream features: read from their tiles (src/streaming/stream-serving.ts), not from online cells. */
  readonly tileFeatures?: readonly StreamFeatureSpec[];
}

/** An on-demand feature: evaluated per row after the fetch, from the positions of its inputs. */
interface OnDemandStep {
  readonly position: number;
  readonly expression: Expression;
  readonly valueType: 'float' | 'int' | 'bool' | 'string';
  /** Expression ref → response position of the fetched feature. */
  readonly inputs: ReadonlyMap<string, number>;
}

interface ReadPlan {
  readonly features: string[];
  /** `features` as JSON text, once per plan. */
  readonly featuresJson: string;
  /** The response's bytes before its rows ({@link onlineJsonHead}). */
  readonly jsonHead: Buffer;
  /** The ttl of each response position (fetched features). */
  readonly ttls: readonly (number | undefined)[];
  /** One group whose tables are the response's features in order. */
  readonly inOrder: boolean;
  readonly groups: readonly ReadGroup[];
  readonly onDemand: readonly OnDemandStep[];
  /** Some features are read from stream tiles (typed path). */
  readonly tiled?: boolean;
}

const PLAN_CACHE_LIMIT = 1000;

/** The online read path: resolve (cached) → one store call per provider/entity group → statuses with TTL. */
export class OnlineReader {
  readonly #catalog: FeatureCatalog;
  readonly #pool: ProviderPool;
  readonly #maxEntities: number;
  readonly #tiles: TileServing | undefined;
  readonly #plans = new Map<string, { generation: number; plan: Promise<ReadPlan> }>();
  readonly #stores = new Map<string, OnlineStore>();

  constructor(catalog: FeatureCatalog, pool: ProviderPool, options: { maxEntities: number; tiles?: TileServing }) {
    this.#catalog = catalog;
    this.#pool = pool;
    this.#maxEntities = options.maxEntities;
    this.#tiles = options.tiles;
  }

  async read(request: OnlineReadRequest, nowMs = Date.now()): Promise<OnlineReadResult> {
    this.#checkSize(request);
    return this.#readTyped(request, await this.#plan(request), nowMs);
  }

  /**
   * The same answer as {@link read}, as the response's JSON text (what `JSON.stringify` of it parses to). Plans
   * without on-demand features over stores holding encoded cells (Redis) go from cell text to JSON text without a
   * typed value per cell ({@link encodedRowsJson}); the rest is read typed and serialized by hand.
   */
  async readJson(request: OnlineReadRequest, nowMs = Date.now()): Promise<string> {
    this.#checkSize(request);
    const plan = await this.#plan(request);
    if (plan.onDemand.length > 0 || plan.tiled) return serializeOnlineResult(await this.#readTyped(request, plan, nowMs), plan.featuresJson);
    const { groups } = plan;
    const entities = request.entities;
    if (groups.length === 1 && plan.inOrder) {
      // The common case: one store call whose tables are the response's features in order.
      const group = groups[0]!;
      const keys = entityKeys(entities, group);
      const store = this.#stores.get(group.provider) ?? (await this.#store(group.provider));
      if (!holdsEncodedCells(store)) return serializeOnlineResult(await this.#readTyped(request, plan, nowMs), plan.featuresJson);
      return encodedRowsJson(plan.jsonHead, await store.readEncoded(group.entity, keys, group.tables), plan.ttls, nowMs);
    }
    const stores = await Promise.all(groups.map((group) => this.#stores.get(group.provider) ?? this.#store(group.provider)));
    if (!stores.every(holdsEncodedCells)) return serializeOnlineResult(await this.#readTyped(request, plan, nowMs), plan.featuresJson);
    const keys = groups.map((group) => entityKeys(entities, group));
    const width = plan.features.length;
    const rows: (string | null)[][] = entities.map(() => new Array<string | null>(width).fill(null));
    await Promise.all(
      groups.map(async (group, g) => {
        placeEncodedRows(rows, await (stores[g] as EncodedStore).readEncoded(group.entity, keys[g]!, group.tables), group.positions, width);
      }),
    );
    return encodedRowsJson(plan.jsonHead, rows, plan.ttls, nowMs);
  }

  /** The pool's store, remembered once open (the pool keeps an open instance for the process's life). */
  async #store(provider: string): Promise<OnlineStore> {
    const store = await this.#pool.online(provider);
    this.#stores.set(provider, store);
    return store;
  }

  #checkSize(request: OnlineReadRequest): void {
    if (request.entities.length > this.#maxEntities) {
      throw new TrellisError('TRELLIS_ERR_TOO_MANY_ENTITIES', { count: request.entities.length, limit: this.#maxEntities });
    }
  }

  async #readTyped(request: OnlineReadRequest, plan: ReadPlan, nowMs: number): Promise<OnlineReadResult> {
    const width = plan.features.length;
    const results = request.entities.map(() => ({
      values: new Array<ServedValue>(width).fill(null),
      statuses: new Array<OnlineValueStatus>(width).fill('NOT_FOUND'),
      eventTimestamps: new Array<number | null>(width).fill(null),
    }));
    await Promise.all(
      plan.groups.map(async (group) => {
        const keys = entityKeys(request.entities, group);
        if (group.tileFeatures) return placeCells(await this.#tiles!.read(group.tileFeatures, keys, nowMs), group, results, nowMs);
        const store = await this.#pool.online(group.provider);
        if (holdsEncodedCells(store)) {
          fillFromEncoded(await store.readEncoded(group.entity, keys, group.tables), group, results, nowMs);
          return;
        }
        placeCells(await store.read(group.entity, keys, group.tables), group, results, nowMs);
      }),
    );
    if (plan.onDemand.length > 0) evaluateOnDemand(plan.onDemand, results, request.context ?? {});
    return { features: plan.features, results };
  }

  #plan(request: OnlineReadRequest): Promise<ReadPlan> {
    const cacheKey = request.featureService !== undefined ? `s:${request.featureService}` : `f:${(request.features ?? []).join('\u0000')}`;
    const generation = this.#catalog.generation;
    const cached = this.#plans.get(cacheKey);
    if (cached && cached.generation === generation) return cached.plan;
    const plan = this.#buildPlan(request);
    plan.catch(() => this.#plans.delete(cacheKey));
    if (this.#plans.size >= PLAN_CACHE_LIMIT) this.#plans.clear();
    this.#plans.set(cacheKey, { generation, plan });
    return plan;
  }

  async #buildPlan(request: OnlineReadRequest): Promise<ReadPlan> {
    if ((request.features === undefined) === (request.featureService === undefined)) {
      throw new TrellisError('TRELLIS_ERR_VALIDATION', { pointer: '/features', reason: 'give exactly one of features or featureService' }, { details: { pointer: '/features' } });
    }
    const service = request.featureService === undefined ? null : await this.#catalog.service(request.featureService);
    const refs = request.features ?? service!.features;
    const served: ServedFeature[] = await Promise.all(refs.map((ref) => this.#catalog.feature(ref)));
    const tiled = await Promise.all(served.map((f) => (f.onlineProvider && this.#tiles ? this.#tiles.tileFeature(f.ref) : null)));
    const groups = new Map<string, { provider: string; entity: string; keyNames: string[]; keyTypes: ValueType[]; tables: string[]; positions: number[]; ttls: (number | undefined)[]; tileFeatures?: StreamFeatureSpec[] }>();
    served.forEach((f, i) => {
      if (!f.onlineProvider) {
        throw new TrellisError('TRELLIS_ERR_VALIDATION', { pointer: request.features ? `/features/${i}` : '/featureService', reason: `feature ${f.ref} has no onlineProvider, so it is not served online` }, { details: { pointer: request.features ? `/features/${i}` : '/featureService' } });
      }
      const key = `${tiled[i] ? 'tiles\u0000' : ''}${f.onlineProvider}\u0000${f.entity}`;
      let group = groups.get(key);
      if (!group) {
        group = { provider: f.onlineProvider, entity: f.entity, keyNames: f.entityKeys.map((k) => k.name), keyTypes: f.entityKeys.map((k) => k.type), tables: [], positions: [], ttls: [], ...(tiled[i] ? { tileFeatures: [] } : {}) };
        groups.set(key, group);
      }
      group.tileFeatures?.push(tiled[i]!);
      group.tables.push(f.ref);
      group.positions.push(i);
      group.ttls.push(f.ttlSeconds);
    });
    const features = served.map((f) => f.ref);
    const onDemand = (service?.onDemand ?? []).map((odf, i): OnDemandStep => {
      const expression = parseExpression(odf.expression);
      const inputs = new Map<string, number>();
      const collect = (e: Expression): void => {
        if (e.type === 'feature') inputs.set(e.ref, refs.findIndex((r) => (e.ref.includes('@') ? r === e.ref : r.split('@')[0] === e.ref)));
        else if (e.type === 'unary') collect(e.operand);
        else if (e.type === 'binary') [e.left, e.right].forEach(collect);
        else if (e.type === 'conditional') [e.test, e.then, e.otherwise].forEach(collect);
        else if (e.type === 'call') e.args.forEach(collect);
      };
      collect(expression);
      return { position: features.length + i, expression, valueType: odf.valueType, inputs };
    });
    features.push(...(service?.onDemand ?? []).map((odf) => odf.name));
    const featuresJson = JSON.stringify(features);
    const groupList = [...groups.values()];
    return {
      features,
      featuresJson,
      jsonHead: onlineJsonHead(featuresJson),
      ttls: served.map((f) => f.ttlSeconds),
      inOrder: groupList.length === 1 && groupList[0]!.positions.every((p, i) => p === i) && groupList[0]!.positions.length === features.length,
      groups: groupList,
      onDemand,
      tiled: tiled.some((t) => t !== null),
    };
  }
}

/**
 * True when the store hands out its cells as stored text (Redis): reading them encoded skips one `{ value, eventTs }`
 * object per cell. Stores on {@link OnlineStoreBase}'s default `readEncoded` (which encodes what `read` decoded) are
 * read with `read`.
 */
type EncodedStore = OnlineStore & Required<Pick<OnlineStore, 'readEncoded'>>;

function holdsEncodedCells(store: OnlineStore): store is EncodedStore {
  return typeof store.readEncoded === 'function' && store.readEncoded !== OnlineStoreBase.prototype.readEncoded;
}

/**
 * The same statuses, values and event times as `read` + {@link onlineValueStatus}, straight from the cell text
 * (`<eventTs>:<tag><payload>`): floats, strings, ints, bools and nulls are decoded in place; other tags (timestamp,
 * float_list) and anything malformed go through {@link decodeOnlineCell}, which also throws on text that is not a cell.
 */
function fillFromEncoded(rows: readonly (readonly (string | null)[])[], group: ReadGroup, results: OnlineReadResult['results'], nowMs: number): void {
  const { tables, positions, ttls } = group;
  const width = tables.length;
  for (let r = 0; r < rows.length; r++) {
    const row = rows[r]!;
    const out = results[r]!;
    for (let t = 0; t < width; t++) {
      const text = row[t];
      if (text === null || text === undefined) continue; // NOT_FOUND, null value and event time: already there
      const at = positions[t]!;
      // The event time, parsed in place as decodeOnlineCell does (digits, optional leading '-', then ':').
      const n = text.length;
      let i = text.charCodeAt(0) === 45 /* - */ ? 1 : 0;
      const digitsFrom = i;
      let magnitude = 0;
      for (; i < n; i++) {
        const digit = text.charCodeAt(i) - 48;
        if (digit === 10 /* : */) break;
        if (!(digit >= 0 && digit <= 9)) break;
        magnitude = magnitude * 10 + digit;
      }
      const tag = i < n - 1 && i > digitsFrom && text.charCodeAt(i) === 58 && Number.isSafeInteger(magnitude) ? text.charCodeAt(i + 1) : -1;
      let eventTs: number;
      let value: ServedValue;
      let isNull = false;
      switch (tag) {
        case 102 /* f */:
          value = +text.slice(i + 2);
          break;
        case 115 /* s */:
          value = text.slice(i + 2);
          break;
        case 105 /* i */: {
          const digits = text.slice(i + 2);
          const int = +digits;
          value = Number.isSafeInteger(int) ? int : digits;
          break;
        }
        case 98 /* b */:
          value = text.charCodeAt(i + 2) === 49;
          break;
        case 110 /* n */:
          value = null;
          isNull = true;
          break;
        default: {
          // timestamp, float_list, or not a cell (throws)
          const cell = decodeOnlineCell(text);
          const status = onlineValueStatus(cell, ttls[t], nowMs);
          out.statuses[at] = status;
          out.eventTimestamps[at] = cell.eventTs;
          if (status === 'PRESENT') out.values[at] = cell.value instanceof Date ? cell.value.toISOString() : (cell.value as ServedValue);
          continue;
        }
      }
      eventTs = digitsFrom === 1 ? -magnitude : magnitude;
      if (eventTs === 0) eventTs = 0; // -0 → 0, as decodeOnlineCell
      out.eventTimestamps[at] = eventTs;
      const ttl = ttls[t];
      if (ttl !== undefined && eventTs < nowMs - ttl * 1000) out.statuses[at] = 'OUTSIDE_MAX_AGE';
      else if (isNull) out.statuses[at] = 'NULL_VALUE';
      else {
        out.statuses[at] = 'PRESENT';
        out.values[at] = value;
      }
    }
  }
}

function evaluateOnDemand(steps: readonly OnDemandStep[], results: OnlineReadResult['results'], context: Readonly<Record<string, unknown>>): void {
  const contextValue = (name: string): ExpressionValue => {
    const v = context[name];
    return typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean' ? v : null;
  };
  for (const row of results) {
    for (const step of steps) {
      let eventTs: number | null = null;
      for (const at of step.inputs.values()) {
        const ts = row.eventTimestamps[at];
        if (ts !== null && ts !== undefined && (eventTs === null || ts > eventTs)) eventTs = ts;
      }
      const raw = evaluateExpression(step.expression, {
        feature: (ref) => (row.values[step.inputs.get(ref)!] ?? null) as ExpressionValue,
        context: contextValue,
      });
      const value = conform(raw, step.valueType);
      row.values[step.position] = value;
      row.statuses[step.position] = value === null ? 'NULL_VALUE' : 'PRESENT';
      row.eventTimestamps[step.position] = eventTs;
    }
  }
}

/** An on-demand result that does not fit its declared type is served as null, never as a wrong type. */
function conform(value: ExpressionValue, type: OnDemandStep['valueType']): ServedValue {
  switch (type) {
    case 'float':
      return typeof value === 'number' ? value : null;
    case 'int':
      return typeof value === 'number' && Number.isInteger(value) ? value : null;
    case 'bool':
      return typeof value === 'boolean' ? value : null;
    case 'string':
      return typeof value === 'string' ? value : null;
  }
}

function entityKeys(rows: readonly Readonly<Record<string, unknown>>[], group: ReadGroup): EntityKeyValue[][] {
  const keys = new Array<EntityKeyValue[]>(rows.length);
  for (let i = 0; i < rows.length; i++) keys[i] = entityKey(rows[i]!, i, group);
  return keys;
}

function entityKey(row: Readonly<Record<string, unknown>>, index: number, group: ReadGroup): EntityKeyValue[] {
  const key: EntityKeyValue[] = new Array(group.keyNames.length);
  for (let k = 0; k < group.keyNames.length; k++) {
    const name = group.keyNames[k]!;
    const value = row[name];
    const type = group.keyTypes[k]!;
    const ok =
      type === 'string' ? typeof value === 'string' :
      type === 'int' ? (typeof value === 'number' && Number.isSafeInteger(value)) || (typeof value === 'string' && /^-?\d+$/.test(value)) :
      type === 'float' ? typeof value === 'number' && Number.isFinite(value) :
      type === 'bool' ? typeof value === 'boolean' :
      typeof value === 'string';
    if (!ok) {
      const pointer = `/entities/${index}/${name}`;
      const reason = value === undefined ? `missing entity key ${name}` : `entity key ${name} must be ${type === 'int' ? 'an integer' : `a ${type}`}`;
      throw new TrellisError('TRELLIS_ERR_VALIDATION', { pointer, reason }, { details: { pointer } });
    }
    key[k] = type === 'int' && typeof value === 'string' ? Number(value) : (value as EntityKeyValue);
  }
  return key;
}
