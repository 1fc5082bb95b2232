import { createHash } from 'node:crypto';
import { metadataFields, type ResourceDefinition } from './resource-schemas.js';

function canonical(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonical);
  if (value && typeof value === 'object') {
    return Object.fromEntries(
      Object.keys(value)
        .filter((k) => (value as Record<string, unknown>)[k] !== undefined)
        .sort()
        .map((k) => [k, canonical((value as Record<string, unknown>)[k])]),
    );
  }
  return value;
}

/** The part of a definition that makes a variant what it is; metadata (owner, tags, …) is excluded. */
export function identityPart(definition: ResourceDefinition): Record<string, unknown> {
  const out: Record<string, unknown> = { ...definition };
  for (const field of metadataFields) delete out[field];
  return canonical(out) as Record<string, unknown>;
}

export function definitionHash(definition: ResourceDefinition): string {
  return createHash('sha256').update(JSON.stringify(identityPart(definition))).digest('hex');
}

export interface FieldDiff {
  /** JSON pointer into the definition, e.g. `/aggregation/window`. */
  readonly field: string;
  readonly existing: unknown;
  readonly proposed: unknown;
}

/** Lists the fields that differ between two definitions' identity parts, as JSON pointers. */
export function diffDefinitions(existing: ResourceDefinition, proposed: ResourceDefinition): FieldDiff[] {
  const out: FieldDiff[] = [];
  const walk = (a: unknown, b: unknown, pointer: string) => {
    if (JSON.stringify(a) === JSON.stringify(b)) return;
    const bothObjects = a && b && typeof a === 'object' && typeof b === 'object' && Array.isArray(a) === Array.isArray(b);
    if (!bothObjects || (Array.isArray(a) && Array.isArray(b) && a.length !== b.length)) {
      out.push({ field: pointer || '/', existing: a, proposed: b });
      return;
    }
    const keys = new Set([...Object.keys(a as object), ...Object.keys(b as object)]);
    for (const key of [...keys].sort()) {
      walk((a as Record<string, unknown>)[key], (b as Record<string, unknown>)[key], `${pointer}/${key.replaceAll('~', '~0').replaceAll('/', '~1')}`);
    }
  };
  walk(identityPart(existing), identityPart(proposed), '');
  return out;
}
