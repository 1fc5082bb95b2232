import { invalidDefinition } from '../../errors/trellis-error.js';
import type { TransformationPart, TransformationPlan } from './plan-nodes.js';
import type { ResourceReference, TransformationSpec, Watermark } from './plan-types.js';
import { checkIdentifier, checkTableRef, checkWatermark } from './spec-validation.js';

/** `{{ name.variant }}` or `{{ name }}`; names and variants are `[A-Za-z_][A-Za-z0-9_]*`. */
const REFERENCE = /\{\{\s*([A-Za-z_][A-Za-z0-9_]*)(?:\.([A-Za-z_][A-Za-z0-9_]*))?\s*\}\}/g;

/** The references a transformation template mentions, in order of first appearance (for lineage). */
export function transformationReferences(sql: string): ResourceReference[] {
  const seen = new Map<string, ResourceReference>();
  for (const match of sql.matchAll(REFERENCE)) {
    const [, name = '', variant] = match;
    const key = `${name}.${variant ?? ''}`;
    if (!seen.has(key)) seen.set(key, variant === undefined ? { name } : { name, variant });
  }
  return [...seen.values()];
}

/**
 * Splits a transformation template into SQL text and resolved table references. A `{{` that does not form a
 * valid reference is an error (it would otherwise reach the engine as a confusing syntax error).
 * `window` is required for an incremental transformation: rows with `since < watermark ≤ until`.
 */
export function planTransformation(
  spec: TransformationSpec,
  window?: { readonly since?: Watermark; readonly until: Watermark },
): TransformationPlan {
  if (typeof spec !== 'object' || spec === null) throw invalidDefinition('', 'must be a transformation');
  if (typeof spec.sql !== 'string' || spec.sql.trim().length === 0) throw invalidDefinition('/sql', 'must not be empty');
  if (spec.sql.includes('\u0000')) throw invalidDefinition('/sql', 'contains a NUL character');
  const parts: TransformationPart[] = [];
  let last = 0;
  for (const match of spec.sql.matchAll(REFERENCE)) {
    const [whole, name = '', variant] = match;
    const index = match.index;
    pushText(parts, spec.sql.slice(last, index));
    const reference: ResourceReference = variant === undefined ? { name } : { name, variant };
    const table = spec.resolve(reference);
    parts.push(Object.freeze({ table: checkTableRef(table, `/sql/{{${name}${variant ? `.${variant}` : ''}}}`) }));
    last = index + whole.length;
  }
  pushText(parts, spec.sql.slice(last));
  for (const part of parts) {
    if ('text' in part && part.text.includes('{{')) {
      throw invalidDefinition('/sql', `malformed reference near ${JSON.stringify(part.text.slice(part.text.indexOf('{{'), part.text.indexOf('{{') + 40))}; expected {{ name.variant }}`);
    }
  }
  let incremental: TransformationPlan['incremental'];
  if (spec.incremental !== undefined) {
    if (window === undefined) throw invalidDefinition('/incremental', 'an incremental transformation needs a window (until, optional since)');
    const until = checkWatermark(window.until, '/window/until');
    const since = window.since === undefined ? undefined : checkWatermark(window.since, '/window/since');
    if (since !== undefined && since.getTime() > until.getTime()) throw invalidDefinition('/window/since', 'is after until');
    incremental = Object.freeze({
      watermarkColumn: checkIdentifier(spec.incremental.watermarkColumn, '/incremental/watermarkColumn'),
      since,
      until,
    });
  }
  return Object.freeze({
    kind: 'transformation',
    parts: Object.freeze(parts),
    output: checkTableRef(spec.output, '/output'),
    incremental,
  });
}

function pushText(parts: TransformationPart[], text: string): void {
  if (text.length > 0) parts.push(Object.freeze({ text }));
}
