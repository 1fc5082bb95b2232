import {
  GraphQLError,
  Kind,
  getNamedType,
  getNullableType,
  isCompositeType,
  isListType,
  isObjectType,
  type FieldNode,
  type GraphQLCompositeType,
  type GraphQLField,
  type OperationDefinitionNode,
  type SelectionSetNode,
  type ValidationContext,
  type ValidationRule,
  type ValueNode,
} from 'graphql/index.js';
import { formatMessage } from '../../errors/trellis-error.js';
import { MAX_PAGE_SIZE } from './page-size.js';

export interface QueryCostLimits {
  /** Deepest field nesting allowed (`{ a { b } }` has depth 2). */
  readonly maxDepth: number;
  /** Highest estimated number of resolved fields allowed. */
  readonly maxComplexity: number;
}

/** Assumed length of a list that takes no `first` argument. */
export const ASSUMED_LIST_LENGTH = 10;
/** Introspection is bounded by the schema, not by data, except through nested lists (`fields { type { fields … } }`). */
const INTROSPECTION_MAX_LIST_NESTING = 3;
const INTROSPECTION_MAX_DEPTH = 15;
const INTROSPECTION_LISTS = new Set(['types', 'fields', 'args', 'inputFields', 'interfaces', 'possibleTypes', 'enumValues', 'directives']);

interface Cost {
  depth: number;
  complexity: number;
}

const ZERO: Cost = { depth: 0, complexity: 0 };

/**
 * Refuses operations deeper or costlier than the limits, before anything runs. The cost estimates the number
 * of fields resolved: every field costs 1, and a list multiplies the cost of what is selected in it by its length,
 * taken from the connection's `first` argument (its default when omitted; the largest page when it is a variable
 * without a default, so that a cached validation holds for every variable value) or assumed to be
 * ASSUMED_LIST_LENGTH. Fragments on different object types of an abstract field cost the most expensive one,
 * since one node matches one type. `__typename` is free; introspection is refused only when it nests more than
 * three introspection lists or fifteen levels.
 */
export function queryCostRule(limits: QueryCostLimits): ValidationRule {
  return (context: ValidationContext) => ({
    OperationDefinition(operation: OperationDefinitionNode) {
      const root = context.getSchema().getRootType(operation.operation);
      if (!root) return;
      const measure = new Measure(context, operation);
      const cost = measure.selectionSet(operation.selectionSet, root, undefined, new Set());
      const name = operation.name?.value ?? 'anonymous';
      const report = (code: 'TRELLIS_ERR_QUERY_TOO_DEEP' | 'TRELLIS_ERR_QUERY_TOO_COMPLEX', limit: string, reason: string, extra: Record<string, number>) =>
        context.reportError(
          new GraphQLError(formatMessage(code, { operation: name, reason }), {
            nodes: [operation],
            extensions: { code, limit, ...extra },
          }),
        );
      if (cost.depth > limits.maxDepth) {
        report('TRELLIS_ERR_QUERY_TOO_DEEP', 'maxDepth', `depth ${cost.depth} exceeds the limit of ${limits.maxDepth}`, { max: limits.maxDepth, actual: cost.depth });
      }
      if (cost.complexity > limits.maxComplexity) {
        report('TRELLIS_ERR_QUERY_TOO_COMPLEX', 'maxComplexity', `complexity ${cost.complexity} exceeds the limit of ${limits.maxComplexity}`, { max: limits.maxComplexity, actual: cost.complexity });
      }
      if (measure.introspectionNesting > INTROSPECTION_MAX_LIST_NESTING || measure.introspectionDepth > INTROSPECTION_MAX_DEPTH) {
        report('TRELLIS_ERR_QUERY_TOO_DEEP', 'introspection', `introspection nests ${measure.introspectionNesting} lists and ${measure.introspectionDepth} levels; at most ${INTROSPECTION_MAX_LIST_NESTING} and ${INTROSPECTION_MAX_DEPTH}`, {
          max: INTROSPECTION_MAX_LIST_NESTING,
          actual: measure.introspectionNesting,
        });
      }
    },
  });
}

class Measure {
  readonly #context: ValidationContext;
  readonly #operation: OperationDefinitionNode;
  introspectionNesting = 0;
  introspectionDepth = 0;

  constructor(context: ValidationContext, operation: OperationDefinitionNode) {
    this.#context = context;
    this.#operation = operation;
  }

  selectionSet(set: SelectionSetNode, type: GraphQLCompositeType, page: number | undefined, visiting: ReadonlySet<string>): Cost {
    const shared: Cost = { depth: 0, complexity: 0 };
    // Fragments on one concrete type of an abstract parent: only one of them applies to a given node.
    const perType = new Map<string, Cost>();
    const addFragment = (condition: string | undefined, cost: Cost) => {
      const target = condition === undefined ? undefined : this.#context.getSchema().getType(condition);
      if (isObjectType(type) || !target || !isObjectType(target)) {
        add(shared, cost);
        return;
      }
      const group = perType.get(target.name) ?? { depth: 0, complexity: 0 };
      perType.set(target.name, group);
      add(group, cost);
    };
    for (const selection of set.selections) {
      switch (selection.kind) {
        case Kind.FIELD:
          add(shared, this.field(selection, type, page, visiting));
          break;
        case Kind.INLINE_FRAGMENT: {
          const condition = selection.typeCondition?.name.value;
          const target = condition ? this.#context.getSchema().getType(condition) : type;
          if (!target || !isCompositeType(target)) break;
          addFragment(condition, this.selectionSet(selection.selectionSet, target, page, visiting));
          break;
        }
        case Kind.FRAGMENT_SPREAD: {
          const name = selection.name.value;
          const fragment = this.#context.getFragment(name);
          if (!fragment || visiting.has(name)) break;
          const target = this.#context.getSchema().getType(fragment.typeCondition.name.value);
          if (!target || !isCompositeType(target)) break;
          addFragment(fragment.typeCondition.name.value, this.selectionSet(fragment.selectionSet, target, page, new Set([...visiting, name])));
          break;
        }
      }
    }
    let widest = ZERO;
    for (const cost of perType.values()) if (cost.complexity > widest.complexity) widest = cost;
    const deepest = Math.max(0, ...[...perType.values()].map((c) => c.depth));
    return { depth: Math.max(shared.depth, deepest), complexity: shared.complexity + widest.complexity };
  }

  field(node: FieldNode, parent: GraphQLCompositeType, page: number | undefined, visiting: ReadonlySet<string>): Cost {
    const name = node.name.value;
    if (name === '__typename') return ZERO;
    if (name === '__schema' || name === '__type') {
      this.#introspection(node.selectionSet, 1, 0, visiting);
      return ZERO;
    }
    if (!('getFields' in parent)) return ZERO;
    const definition = parent.getFields()[name];
    if (!definition) return ZERO;
    const named = getNamedType(definition.type);
    const ownPage = this.#pageSize(node, definition);
    const inner = node.selectionSet && isCompositeType(named) ? this.selectionSet(node.selectionSet, named, ownPage, visiting) : ZERO;
    const list = isListType(getNullableType(definition.type));
    const length = list ? (page !== undefined && parent.name.endsWith('Connection') ? page : ASSUMED_LIST_LENGTH) : 1;
    return { depth: 1 + inner.depth, complexity: length * (1 + inner.complexity) };
  }

  /** The page size a `first` argument asks for; undefined when the field takes none. */
  #pageSize(node: FieldNode, definition: GraphQLField<unknown, unknown>): number | undefined {
    const arg = definition.args.find((a) => a.name === 'first');
    if (!arg) return undefined;
    const given = node.arguments?.find((a) => a.name.value === 'first')?.value;
    const fallback = typeof arg.defaultValue === 'number' ? arg.defaultValue : MAX_PAGE_SIZE;
    if (!given) return fallback;
    return this.#intValue(given) ?? MAX_PAGE_SIZE;
  }

  #intValue(value: ValueNode): number | undefined {
    if (value.kind === Kind.INT) return Math.max(0, Number(value.value));
    if (value.kind === Kind.VARIABLE) {
      const declared = this.#operation.variableDefinitions?.find((v) => v.variable.name.value === value.name.value)?.defaultValue;
      return declared && declared.kind === Kind.INT ? Math.max(0, Number(declared.value)) : undefined;
    }
    return undefined;
  }

  #introspection(set: SelectionSetNode | undefined, depth: number, lists: number, visiting: ReadonlySet<string>): void {
    this.introspectionDepth = Math.max(this.introspectionDepth, depth);
    this.introspectionNesting = Math.max(this.introspectionNesting, lists);
    if (!set || depth > INTROSPECTION_MAX_DEPTH) return;
    for (const selection of set.selections) {
      if (selection.kind === Kind.FIELD) {
        this.#introspection(selection.selectionSet, depth + 1, lists + (INTROSPECTION_LISTS.has(selection.name.value) ? 1 : 0), visiting);
      } else if (selection.kind === Kind.INLINE_FRAGMENT) {
        this.#introspection(selection.selectionSet, depth, lists, visiting);
      } else {
        const fragment = this.#context.getFragment(selection.name.value);
        if (fragment && !visiting.has(selection.name.value)) this.#introspection(fragment.selectionSet, depth, lists, new Set([...visiting, selection.name.value]));
      }
    }
  }
}

function add(into: Cost, cost: Cost): void {
  into.depth = Math.max(into.depth, cost.depth);
  into.complexity += cost.complexity;
}
