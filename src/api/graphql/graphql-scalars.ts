import { Kind, type ValueNode } from 'graphql/index.js';

type Variables = Readonly<Record<string, unknown>> | null | undefined;

function literal(ast: ValueNode, variables: Variables): unknown {
  switch (ast.kind) {
    case Kind.STRING:
    case Kind.BOOLEAN:
    case Kind.ENUM:
      return ast.value;
    case Kind.INT:
    case Kind.FLOAT:
      return Number(ast.value);
    case Kind.NULL:
      return null;
    case Kind.LIST:
      return ast.values.map((v) => literal(v, variables));
    case Kind.OBJECT:
      return Object.fromEntries(ast.fields.map((f) => [f.name.value, literal(f.value, variables)]));
    case Kind.VARIABLE:
      return variables?.[ast.name.value];
  }
}

function toIso(value: unknown): string {
  const date = value instanceof Date ? value : new Date(value as string);
  if (Number.isNaN(date.getTime())) throw new TypeError(`not a timestamp: ${String(value)}`);
  return date.toISOString();
}

/** Behaviour of the custom scalars, in the shape mercurius `defineResolvers` copies onto the schema types. */
export const scalarResolvers = {
  JSON: {
    serialize: (value: unknown) => value,
    parseValue: (value: unknown) => value,
    parseLiteral: (ast: ValueNode, variables?: Variables) => literal(ast, variables),
  },
  DateTime: {
    serialize: toIso,
    parseValue: toIso,
    parseLiteral: (ast: ValueNode) => {
      if (ast.kind !== Kind.STRING) throw new TypeError('DateTime must be an ISO-8601 string');
      return toIso(ast.value);
    },
  },
  Long: {
    serialize: (value: unknown) => {
      const n = Number(value);
      if (!Number.isSafeInteger(n)) throw new TypeError(`not a safe 64-bit integer: ${String(value)}`);
      return n;
    },
    parseValue: (value: unknown) => {
      if (!Number.isSafeInteger(value)) throw new TypeError('Long must be an integer');
      return value;
    },
    parseLiteral: (ast: ValueNode) => {
      if (ast.kind !== Kind.INT) throw new TypeError('Long must be an integer');
      return Number(ast.value);
    },
  },
};
