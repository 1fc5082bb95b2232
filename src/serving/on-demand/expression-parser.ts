/**
 * On-demand feature expressions: a small, closed language evaluated per entity row. No `eval`, no `Function`,
 * no property access beyond `context.<name>`: the parser accepts only the grammar below.
 *
 *   expr     := or ('?' expr ':' expr)?
 *   or       := and ('||' and)*          and := cmp ('&&' cmp)*
 *   cmp      := sum (('=='|'!='|'<'|'<='|'>'|'>=') sum)?
 *   sum      := product (('+'|'-') product)*   product := unary (('*'|'/'|'%') unary)*
 *   unary    := ('-'|'!') unary | primary
 *   primary  := number | string | true | false | null | name | context.name | fn '(' args ')' | '(' expr ')'
 *
 * `name` is a feature of the same feature service (its name or `name@variant`), `context.x` a request value.
 */
export type Expression =
  | { readonly type: 'literal'; readonly value: string | number | boolean | null }
  | { readonly type: 'feature'; readonly ref: string }
  | { readonly type: 'context'; readonly name: string }
  | { readonly type: 'unary'; readonly op: '-' | '!'; readonly operand: Expression }
  | { readonly type: 'binary'; readonly op: BinaryOperator; readonly left: Expression; readonly right: Expression }
  | { readonly type: 'conditional'; readonly test: Expression; readonly then: Expression; readonly otherwise: Expression }
  | { readonly type: 'call'; readonly fn: FunctionName; readonly args: readonly Expression[] };

export type BinaryOperator = '||' | '&&' | '==' | '!=' | '<' | '<=' | '>' | '>=' | '+' | '-' | '*' | '/' | '%';

/** Functions and their arity [min, max]. */
export const functionArity = {
  abs: [1, 1],
  round: [1, 2],
  floor: [1, 1],
  ceil: [1, 1],
  sqrt: [1, 1],
  log: [1, 1],
  exp: [1, 1],
  min: [1, 16],
  max: [1, 16],
  coalesce: [1, 16],
  lower: [1, 1],
  upper: [1, 1],
  len: [1, 1],
} as const satisfies Record<string, readonly [number, number]>;
export type FunctionName = keyof typeof functionArity;

export class ExpressionError extends Error {
  readonly position: number;
  constructor(message: string, position: number) {
    super(`${message} at character ${position + 1}`);
    this.position = position;
  }
}

type Token = { kind: 'num'; value: number; at: number } | { kind: 'str'; value: string; at: number } | { kind: 'id'; value: string; at: number } | { kind: 'op'; value: string; at: number } | { kind: 'end'; at: number };

const MAX_LENGTH = 2000;
const MAX_DEPTH = 64;
const OPERATORS = ['||', '&&', '==', '!=', '<=', '>=', '<', '>', '+', '-', '*', '/', '%', '!', '?', ':', '(', ')', ','];

function tokenize(source: string): Token[] {
  if (source.length > MAX_LENGTH) throw new ExpressionError(`expression longer than ${MAX_LENGTH} characters`, MAX_LENGTH);
  const tokens: Token[] = [];
  let i = 0;
  while (i < source.length) {
    const c = source[i]!;
    if (/\s/.test(c)) {
      i++;
    } else if (/[0-9.]/.test(c)) {
      const match = /^(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?/.exec(source.slice(i));
      if (!match) throw new ExpressionError(`bad number`, i);
      tokens.push({ kind: 'num', value: Number(match[0]), at: i });
      i += match[0].length;
    } else if (c === "'" || c === '"') {
      let j = i + 1;
      let value = '';
      while (j < source.length && source[j] !== c) {
        if (source[j] === '\\' && j + 1 < source.length) j++;
        value += source[j];
        j++;
      }
      if (j >= source.length) throw new ExpressionError('unterminated string', i);
      tokens.push({ kind: 'str', value, at: i });
      i = j + 1;
    } else if (/[a-z_]/i.test(c)) {
      const match = /^[A-Za-z_][A-Za-z0-9_]*(?:@[a-z][a-z0-9_]*)?(?:\.[A-Za-z_][A-Za-z0-9_]*)?/.exec(source.slice(i))!;
      tokens.push({ kind: 'id', value: match[0], at: i });
      i += match[0].length;
    } else {
      const op = OPERATORS.find((o) => source.startsWith(o, i));
      if (!op) throw new ExpressionError(`unexpected character ${JSON.stringify(c)}`, i);
      tokens.push({ kind: 'op', value: op, at: i });
      i += op.length;
    }
  }
  tokens.push({ kind: 'end', at: source.length });
  return tokens;
}

export function parseExpression(source: string): Expression {
  const tokens = tokenize(source);
  let pos = 0;
  let depth = 0;
  const peek = () => tokens[pos]!;
  const isOp = (value: string) => peek().kind === 'op' && (peek() as { value: string }).value === value;
  const expect = (value: string) => {
    if (!isOp(value)) throw new ExpressionError(`expected ${JSON.stringify(value)}`, peek().at);
    pos++;
  };
  const nested = <T>(fn: () => T): T => {
    if (++depth > MAX_DEPTH) throw new ExpressionError('expression nested too deeply', peek().at);
    try {
      return fn();
    } finally {
      depth--;
    }
  };
  const binaryLevel = (ops: readonly BinaryOperator[], next: () => Expression, repeat = true) => (): Expression => {
    let left = next();
    while (peek().kind === 'op' && (ops as readonly string[]).includes((peek() as { value: string }).value)) {
      const op = (tokens[pos++] as { value: string }).value as BinaryOperator;
      left = { type: 'binary', op, left, right: next() };
      if (!repeat) break;
    }
    return left;
  };

  const expression = (): Expression =>
    nested(() => {
      const test = or();
      if (!isOp('?')) return test;
      pos++;
      const then = expression();
      expect(':');
      return { type: 'conditional', test, then, otherwise: expression() };
    });
  const primary = (): Expression => {
    const token = tokens[pos++]!;
    switch (token.kind) {
      case 'num':
        return { type: 'literal', value: token.value };
      case 'str':
        return { type: 'literal', value: token.value };
      case 'id': {
        if (token.value === 'true' || token.value === 'false') return { type: 'literal', value: token.value === 'true' };
        if (token.value === 'null') return { type: 'literal', value: null };
        if (token.value.startsWith('context.')) return { type: 'context', name: token.value.slice('context.'.length) };
        if (isOp('(')) {
          if (!Object.hasOwn(functionArity, token.value)) throw new ExpressionError(`unknown function ${token.value}; known: ${Object.keys(functionArity).join(', ')}`, token.at);
          pos++;
          const args: Expression[] = [];
          if (!isOp(')')) {
            do args.push(expression());
            while (isOp(',') && ++pos);
          }
          expect(')');
          const [min, max] = functionArity[token.value as FunctionName];
          if (args.length < min || args.length > max) throw new ExpressionError(`${token.value} takes ${min === max ? min : `${min} to ${max}`} argument(s)`, token.at);
          return { type: 'call', fn: token.value as FunctionName, args };
        }
        if (token.value.includes('.')) throw new ExpressionError(`unknown name ${token.value}; only context.<name> may use a dot`, token.at);
        return { type: 'feature', ref: token.value };
      }
      case 'op':
        if (token.value === '(') {
          const inner = expression();
          expect(')');
          return inner;
        }
        throw new ExpressionError(`unexpected ${JSON.stringify(token.value)}`, token.at);
      case 'end':
        throw new ExpressionError('unexpected end of expression', token.at);
    }
  };
  const unary = (): Expression =>
    nested(() => {
      if (isOp('-') || isOp('!')) {
        const op = (tokens[pos++] as { value: string }).value as '-' | '!';
        return { type: 'unary', op, operand: unary() };
      }
      return primary();
    });
  const product = binaryLevel(['*', '/', '%'], unary);
  const sum = binaryLevel(['+', '-'], product);
  const comparison = binaryLevel(['==', '!=', '<', '<=', '>', '>='], sum, false);
  const and = binaryLevel(['&&'], comparison);
  const or = binaryLevel(['||'], and);

  const result = expression();
  if (peek().kind !== 'end') throw new ExpressionError('unexpected input after the expression', peek().at);
  return result;
}

/** Feature refs an expression reads. */
export function expressionFeatures(expression: Expression): string[] {
  switch (expression.type) {
    case 'feature':
      return [expression.ref];
    case 'unary':
      return expressionFeatures(expression.operand);
    case 'binary':
      return [...expressionFeatures(expression.left), ...expressionFeatures(expression.right)];
    case 'conditional':
      return [...expressionFeatures(expression.test), ...expressionFeatures(expression.then), ...expressionFeatures(expression.otherwise)];
    case 'call':
      return expression.args.flatMap(expressionFeatures);
    default:
      return [];
  }
}
