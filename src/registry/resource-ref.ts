import type { ResourceKind } from './resource-schemas.js';

export const DEFAULT_VARIANT = 'default';

export interface ResourceId {
  readonly kind: ResourceKind;
  readonly name: string;
  readonly variant: string;
}

export interface ParsedRef {
  readonly name: string;
  readonly variant: string | undefined;
}

/** `name` or `name@variant` (already validated against REF_PATTERN). */
export function parseRef(ref: string): ParsedRef {
  const at = ref.indexOf('@');
  return at < 0 ? { name: ref, variant: undefined } : { name: ref.slice(0, at), variant: ref.slice(at + 1) };
}

export const formatRef = (name: string, variant: string) => `${name}@${variant}`;
export const formatId = (id: ResourceId) => `${id.kind} ${id.name}@${id.variant}`;
export const idKey = (id: ResourceId) => `${id.kind}\u0000${id.name}\u0000${id.variant}`;

const DURATION_UNITS = { ms: 0.001, s: 1, m: 60, h: 3600, d: 86400, w: 604800 } as const;

/** `7d` → 604800. Input is validated against DURATION_PATTERN. */
export function durationSeconds(duration: string): number {
  const match = /^([0-9]+)(ms|s|m|h|d|w)$/.exec(duration);
  if (!match) throw new Error(`invalid duration ${duration}`);
  return Number(match[1]) * DURATION_UNITS[match[2] as keyof typeof DURATION_UNITS];
}
