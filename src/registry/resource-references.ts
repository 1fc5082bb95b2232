import type { ResourceDefinition, ResourceKind } from './resource-schemas.js';

/** A reference from one definition to another resource, found at `pointer` inside the definition. */
export interface DefinitionReference {
  readonly pointer: string;
  readonly ref: string;
  /** Kinds the reference may resolve to, in lookup order. */
  readonly kinds: readonly ResourceKind[];
}

const SOURCE_KINDS = ['source', 'transformation'] as const satisfies readonly ResourceKind[];
/** `{{ name }}` or `{{ name.variant }}` inside transformation SQL. */
export const SQL_REFERENCE = /\{\{\s*([a-z][a-z0-9_]*)(?:\.([a-z][a-z0-9_]*))?\s*\}\}/g;

export function definitionReferences(def: ResourceDefinition): DefinitionReference[] {
  switch (def.kind) {
    case 'provider':
    case 'entity':
      return [];
    case 'source':
      return [
        { pointer: '/provider', ref: def.provider, kinds: ['provider'] },
        ...(def.offlineCopy ? [{ pointer: '/offlineCopy/source', ref: def.offlineCopy.source, kinds: ['source'] as const }] : []),
      ];
    case 'transformation':
      return [
        { pointer: '/provider', ref: def.provider, kinds: ['provider'] },
        ...[...def.sql.matchAll(SQL_REFERENCE)].map((m) => ({
          pointer: '/sql',
          ref: m[2] ? `${m[1]}@${m[2]}` : m[1]!,
          kinds: SOURCE_KINDS,
        })),
      ];
    case 'feature':
    case 'label':
      return [
        { pointer: '/entity', ref: def.entity, kinds: ['entity'] },
        { pointer: '/source', ref: def.source, kinds: SOURCE_KINDS },
        ...('onlineProvider' in def && def.onlineProvider ? [{ pointer: '/onlineProvider', ref: def.onlineProvider, kinds: ['provider'] as const }] : []),
      ];
    case 'training_set':
      return [
        { pointer: '/label', ref: def.label, kinds: ['label'] },
        ...def.features.map((f, i) =>
          typeof f === 'string'
            ? { pointer: `/features/${i}`, ref: f, kinds: ['feature'] as const }
            : { pointer: `/features/${i}/feature`, ref: f.feature, kinds: ['feature'] as const },
        ),
      ];
    case 'feature_service':
      return def.features.map((ref, i) => ({ pointer: `/features/${i}`, ref, kinds: ['feature'] as const }));
  }
}

/**
 * Returns a copy of the definition with every reference pinned to `name@variant`, so a stored variant keeps
 * pointing at what it was applied against even after a parent gets a newer default variant.
 */
export function pinReferences(def: ResourceDefinition, pinned: (ref: string, pointer: string) => string): ResourceDefinition {
  const out = structuredClone(def) as ResourceDefinition & Record<string, unknown>;
  switch (out.kind) {
    case 'source':
      out.provider = pinned(out.provider, '/provider');
      if (out.offlineCopy) out.offlineCopy = { ...out.offlineCopy, source: pinned(out.offlineCopy.source, '/offlineCopy/source') };
      break;
    case 'transformation':
      out.provider = pinned(out.provider, '/provider');
      out.sql = out.sql.replace(SQL_REFERENCE, (_whole, name: string, variant?: string) => {
        const [n, v] = pinned(variant ? `${name}@${variant}` : name, '/sql').split('@');
        return `{{ ${n}.${v} }}`;
      });
      break;
    case 'feature':
    case 'label':
      out.entity = pinned(out.entity, '/entity');
      out.source = pinned(out.source, '/source');
      if (out.kind === 'feature' && out.onlineProvider) out.onlineProvider = pinned(out.onlineProvider, '/onlineProvider');
      break;
    case 'training_set':
      out.label = pinned(out.label, '/label');
      out.features = out.features.map((f, i) =>
        typeof f === 'string' ? pinned(f, `/features/${i}`) : { ...f, feature: pinned(f.feature, `/features/${i}/feature`) },
      );
      break;
    case 'feature_service':
      out.features = out.features.map((f, i) => pinned(f, `/features/${i}`));
      break;
    default:
      break;
  }
  return out;
}
