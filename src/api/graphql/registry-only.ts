import { Kind, parse, type DocumentNode, type FragmentDefinitionNode, type SelectionSetNode } from 'graphql/index.js';

/** Root fields answered from the registry tables alone. */
const REGISTRY_ROOTS = new Set(['search', 'lineage', 'resource', '__typename']);
/** Fields that read more than the registry tables: runs change without a registry change notification. */
const LIVE_FIELDS = new Set(['runs', 'freshness']);
const MAX_REMEMBERED = 1000;

const remembered = new Map<string, boolean>();

function selectsLive(set: SelectionSetNode | undefined, fragments: Map<string, FragmentDefinitionNode>, seen: Set<string>): boolean {
  return (set?.selections ?? []).some((s) => {
    if (s.kind === Kind.FIELD) return LIVE_FIELDS.has(s.name.value) || selectsLive(s.selectionSet, fragments, seen);
    if (s.kind === Kind.INLINE_FRAGMENT) return selectsLive(s.selectionSet, fragments, seen);
    if (seen.has(s.name.value)) return false;
    seen.add(s.name.value);
    return selectsLive(fragments.get(s.name.value)?.selectionSet, fragments, seen);
  });
}

function classify(document: DocumentNode, operationName: string | null): boolean {
  const operations = document.definitions.filter((d) => d.kind === Kind.OPERATION_DEFINITION);
  const operation = operationName === null ? (operations.length === 1 ? operations[0] : undefined) : operations.find((o) => o.name?.value === operationName);
  if (!operation || operation.operation !== 'query') return false;
  const roots = operation.selectionSet.selections;
  if (!roots.every((s) => s.kind === Kind.FIELD && REGISTRY_ROOTS.has(s.name.value))) return false;
  const fragments = new Map(document.definitions.filter((d) => d.kind === Kind.FRAGMENT_DEFINITION).map((f) => [f.name.value, f]));
  return !selectsLive(operation.selectionSet, fragments, new Set());
}

/**
 * Whether an operation's answer depends only on the registry tables (resources and lineage edges), so that
 * the whole response may be cached until the next registry change: a query whose root fields are `search`,
 * `lineage` or `resource` and that selects no `runs` or `freshness` anywhere. Unparsable text: false (mercurius
 * answers the error). Remembered per query text.
 */
export function registryOnly(query: string, operationName: string | null): boolean {
  const key = `${operationName ?? ''}\u0000${query}`;
  let answer = remembered.get(key);
  if (answer === undefined) {
    try {
      answer = classify(parse(query), operationName);
    } catch {
      answer = false;
    }
    if (remembered.size >= MAX_REMEMBERED) remembered.clear();
    remembered.set(key, answer);
  }
  return answer;
}
