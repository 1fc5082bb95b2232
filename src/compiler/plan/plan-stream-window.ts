/**
 * Stream window features over a warehouse copy of their topic ("the offline copy", a source the user registers):
 * the same window definition the stream workers keep as tiles (src/streaming/tiles.ts), planned for SQL so a
 * training set or a backfill computes the value the online read serves for the same events.
 *
 * Semantics, identical to the tile read path at time `t`:
 * - a window of `w` ms sliding by `s` ms (tumbling: `s = w`) is evaluated at `t* = ⌊t / s⌋·s` (epoch-aligned)
 *   over the rows with `t* − w < ts ≤ t*` of the same key;
 * - count (rows, or non-null values of `column`), sum / avg / min / max of non-null values (none: null, count 0);
 * - `last`: the value of the greatest (event time, then `orderColumns` — e.g. Kafka partition and offset — all
 *   descending); unwindowed `last` takes every row with `ts ≤ t`. With a ttl, a `last` value older than `t − ttl`
 *   is not served (the online read's OUTSIDE_MAX_AGE: its event time against the read time, not the window end).
 * Events the stream worker dropped as too late (behind its partition's watermark by more than the allowed
 * lateness) are still in the copy; the two agree for the events the stream accepted.
 */
import { invalidDefinition } from '../../errors/trellis-error.js';
import { resourceColumnName } from './plan-feature-join.js';
import type { OutputColumn, SourceRead } from './plan-nodes.js';
import type { Relation, SourceSpec, Watermark } from './plan-types.js';
import { checkDistinctNames, checkIdentifier, checkKeyColumns, checkRelation, checkSeconds, checkWatermark, readSource } from './spec-validation.js';

/** The stream aggregation functions (see StreamAggregationFn). */
export type StreamWindowFunction = 'count' | 'sum' | 'avg' | 'min' | 'max' | 'last';
const FUNCTIONS = new Set<StreamWindowFunction>(['count', 'sum', 'avg', 'min', 'max', 'last']);

/** Largest window or slide: 1000 years of ms. */
const MAX_MS = 1000 * 366 * 24 * 3600 * 1000;

/** A stream feature evaluated over the offline copy of its topic. */
export interface StreamWindowFeatureSpec {
  readonly name: string;
  readonly variant: string;
  /** The offline copy: a table or query holding the topic's events, with their event-time column. */
  readonly source: SourceSpec;
  readonly entityKeyColumns: readonly string[];
  readonly fn: StreamWindowFunction;
  /** The aggregated (or `last`) column; omitted only for `count` of rows. */
  readonly column?: string;
  /** Window length, ms; omitted: unwindowed (only for `last`). */
  readonly windowMs?: number;
  /** Slide, ms (the window is a multiple of it); omitted: tumbling (slide = window). */
  readonly slideMs?: number;
  /** Tie-break of `last` after the event time (descending), e.g. the Kafka partition and offset columns. */
  readonly orderColumns?: readonly string[];
  /** Evaluate this long before each spine time (a training set's lag; whole seconds). */
  readonly lagSeconds?: number;
  /** `last` only: a value older than this before the evaluation time is not served (the feature's ttl). */
  readonly ttlSeconds?: number;
}

/** True for the stream window entries of a training set's `features` (they carry `fn`; a batch feature does not). */
export function isStreamWindowFeatureSpec(feature: unknown): feature is StreamWindowFeatureSpec {
  return typeof feature === 'object' && feature !== null && 'fn' in feature;
}

/** A stream feature as planned. */
export interface StreamWindowJoin {
  readonly kind: 'stream-window';
  readonly outputName: string;
  readonly source: SourceRead;
  readonly fn: StreamWindowFunction;
  readonly column: string | undefined;
  readonly windowMs: number | null;
  readonly slideMs: number | null;
  readonly orderColumns: readonly string[];
  /** Evaluated this many ms before each spine time. */
  readonly lagMs: number;
  /** `last`: rows older than this many ms before the evaluation time are ignored (null: no bound). */
  readonly ttlMs: number | null;
}

/** The points to evaluate features at: a relation (label rows) or one time for every key of the features' sources. */
export type StreamWindowSpine =
  | { readonly relation: Relation; readonly keyColumns: readonly string[]; readonly timestampColumn: string; readonly valueColumn?: string }
  | { readonly asOf: Watermark; readonly keyNames?: readonly string[] };

export interface StreamWindowSpec {
  readonly spine: StreamWindowSpine;
  readonly features: readonly StreamWindowFeatureSpec[];
}

export interface StreamWindowPlan {
  readonly kind: 'stream-window-set';
  /** Label-style spine, or `asOf` (a backfill: every key with a row `ts ≤ asOf` in any feature's source). */
  readonly spine:
    | { readonly kind: 'relation'; readonly relation: Relation; readonly keyColumns: readonly string[]; readonly timestampColumn: string; readonly valueColumn: string | undefined }
    | { readonly kind: 'as-of'; readonly asOf: Watermark };
  readonly features: readonly StreamWindowJoin[];
  readonly keyOutputNames: readonly string[];
  readonly timestampOutputName: string;
  /** All output columns: keys, timestamp, features (spec order), label (relation spines with a valueColumn). */
  readonly columns: readonly OutputColumn[];
}

function checkMs(value: unknown, pointer: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value <= 0 || value > MAX_MS) {
    throw invalidDefinition(pointer, `must be a whole number of ms between 1 and ${MAX_MS}`);
  }
  return value;
}

/** Validates one stream feature over its offline copy. */
export function planStreamWindowJoin(feature: StreamWindowFeatureSpec, pointer: string, expectedKeys?: number): StreamWindowJoin {
  if (typeof feature !== 'object' || feature === null) throw invalidDefinition(pointer, 'must be a feature');
  const name = checkIdentifier(feature.name, `${pointer}/name`);
  const variant = checkIdentifier(feature.variant, `${pointer}/variant`);
  const keyColumns = checkKeyColumns(feature.entityKeyColumns, `${pointer}/entityKeyColumns`, expectedKeys);
  const source = readSource(feature.source, keyColumns, `${pointer}/source`);
  if (!FUNCTIONS.has(feature.fn)) throw invalidDefinition(`${pointer}/fn`, `must be one of ${[...FUNCTIONS].join(', ')}`);
  if (feature.column === undefined && feature.fn !== 'count') throw invalidDefinition(`${pointer}/column`, `is required for ${feature.fn}`);
  const column = feature.column === undefined ? undefined : checkIdentifier(feature.column, `${pointer}/column`);
  let windowMs: number | null = null;
  let slideMs: number | null = null;
  if (feature.windowMs === undefined) {
    if (feature.fn !== 'last') throw invalidDefinition(`${pointer}/windowMs`, `is required for ${feature.fn}`);
    if (feature.slideMs !== undefined) throw invalidDefinition(`${pointer}/slideMs`, 'needs a window');
  } else {
    windowMs = checkMs(feature.windowMs, `${pointer}/windowMs`);
    slideMs = feature.slideMs === undefined ? windowMs : checkMs(feature.slideMs, `${pointer}/slideMs`);
    if (windowMs % slideMs !== 0) throw invalidDefinition(`${pointer}/slideMs`, `the window (${windowMs} ms) must be a multiple of the slide (${slideMs} ms)`);
  }
  const orderColumns = Object.freeze((feature.orderColumns ?? []).map((c, i) => checkIdentifier(c, `${pointer}/orderColumns/${i}`)));
  const lagMs = feature.lagSeconds === undefined ? 0 : checkSeconds(feature.lagSeconds, `${pointer}/lagSeconds`) * 1000;
  if (feature.ttlSeconds !== undefined && feature.fn !== 'last') throw invalidDefinition(`${pointer}/ttlSeconds`, 'applies to last only (the window bounds an aggregation)');
  const ttlMs = feature.ttlSeconds === undefined ? null : checkSeconds(feature.ttlSeconds, `${pointer}/ttlSeconds`) * 1000;
  return Object.freeze({ kind: 'stream-window', outputName: resourceColumnName(name, variant), source, fn: feature.fn, column, windowMs, slideMs, orderColumns, lagMs, ttlMs });
}

/**
 * Validates a stream window spec: a training set (a relation spine, like a label) or a backfill (`asOf`).
 * Errors are `TRELLIS_ERR_INVALID_DEFINITION` with a JSON pointer into the spec.
 */
export function planStreamWindow(spec: StreamWindowSpec): StreamWindowPlan {
  if (typeof spec !== 'object' || spec === null || typeof spec.spine !== 'object' || spec.spine === null) throw invalidDefinition('/spine', 'is required');
  if (!Array.isArray(spec.features) || spec.features.length === 0) throw invalidDefinition('/features', 'needs at least one feature');
  const spineSpec = spec.spine;
  let spine: StreamWindowPlan['spine'];
  let keyOutputNames: readonly string[];
  let timestampOutputName: string;
  let labelOutput: string | undefined;
  if ('asOf' in spineSpec) {
    const asOf = checkWatermark(spineSpec.asOf, '/spine/asOf');
    spine = Object.freeze({ kind: 'as-of', asOf });
    const first = spec.features[0]!;
    keyOutputNames = checkKeyColumns(spineSpec.keyNames ?? first.entityKeyColumns, spineSpec.keyNames ? '/spine/keyNames' : '/features/0/entityKeyColumns');
    timestampOutputName = 'as_of';
  } else {
    const keyColumns = checkKeyColumns(spineSpec.keyColumns, '/spine/keyColumns');
    const timestampColumn = checkIdentifier(spineSpec.timestampColumn, '/spine/timestampColumn');
    const valueColumn = spineSpec.valueColumn === undefined ? undefined : checkIdentifier(spineSpec.valueColumn, '/spine/valueColumn');
    spine = Object.freeze({ kind: 'relation', relation: checkRelation(spineSpec.relation, '/spine/relation'), keyColumns, timestampColumn, valueColumn });
    keyOutputNames = keyColumns;
    timestampOutputName = timestampColumn;
    labelOutput = valueColumn;
  }
  const features = Object.freeze(spec.features.map((f, i) => planStreamWindowJoin(f, `/features/${i}`, keyOutputNames.length)));
  checkDistinctNames([
    ...keyOutputNames.map((name, i) => ({ name, owner: `/spine/keys/${i}` })),
    { name: timestampOutputName, owner: '/spine/timestamp' },
    ...features.map((f, i) => ({ name: f.outputName, owner: `/features/${i}` })),
    ...(labelOutput ? [{ name: labelOutput, owner: '/spine/valueColumn' }] : []),
  ]);
  const columns: OutputColumn[] = [
    ...keyOutputNames.map((name) => ({ name, role: 'key' as const })),
    { name: timestampOutputName, role: 'timestamp' },
    ...features.map((f) => ({ name: f.outputName, role: 'feature' as const })),
    ...(labelOutput ? [{ name: labelOutput, role: 'label' as const }] : []),
  ];
  return Object.freeze({ kind: 'stream-window-set', spine, features, keyOutputNames, timestampOutputName, columns: Object.freeze(columns.map((c) => Object.freeze(c))) });
}
