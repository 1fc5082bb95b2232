import type { Expression, FunctionName } from './expression-parser.js';

export type ExpressionValue = string | number | boolean | null | readonly number[];

/** Values an expression can see: features by ref (as written in the expression) and request context. */
export interface ExpressionScope {
  feature(ref: string): ExpressionValue;
  context(name: string): ExpressionValue;
}

const num = (v: ExpressionValue): number | null => (typeof v === 'number' ? v : null);
const finite = (v: number): number | null => (Number.isFinite(v) ? v : null);

const functions = {
  abs: ([a]) => (num(a!) === null ? null : Math.abs(num(a!)!)),
  round: ([a, digits]) => {
    const x = num(a!);
    if (x === null) return null;
    const d = digits === undefined ? 0 : num(digits);
    if (d === null || !Number.isInteger(d) || d < 0 || d > 15) return null;
    const f = 10 ** d;
    return Math.round(x * f) / f;
  },
  floor: ([a]) => (num(a!) === null ? null : Math.floor(num(a!)!)),
  ceil: ([a]) => (num(a!) === null ? null : Math.ceil(num(a!)!)),
  sqrt: ([a]) => (num(a!) === null || num(a!)! < 0 ? null : Math.sqrt(num(a!)!)),
  log: ([a]) => (num(a!) === null || num(a!)! <= 0 ? null : Math.log(num(a!)!)),
  exp: ([a]) => (num(a!) === null ? null : finite(Math.exp(num(a!)!))),
  min: (args) => (args.some((a) => num(a) === null) ? null : Math.min(...args.map((a) => num(a)!))),
  max: (args) => (args.some((a) => num(a) === null) ? null : Math.max(...args.map((a) => num(a)!))),
  coalesce: (args) => args.find((a) => a !== null) ?? null,
  lower: ([a]) => (typeof a === 'string' ? a.toLowerCase() : null),
  upper: ([a]) => (typeof a === 'string' ? a.toUpperCase() : null),
  len: ([a]) => (typeof a === 'string' || Array.isArray(a) ? a.length : null),
} satisfies Record<FunctionName, (args: ExpressionValue[]) => ExpressionValue>;

/**
 * Evaluates an expression. Null propagates through arithmetic and comparisons (SQL-like); type mismatches
 * and undefined results (division by zero, log of a negative) give null rather than an error, so one bad row
 * never fails a whole request. `&&`/`||` short-circuit; `? :` treats anything but `true` as false.
 */
export function evaluateExpression(expression: Expression, scope: ExpressionScope): ExpressionValue {
  switch (expression.type) {
    case 'literal':
      return expression.value;
    case 'feature':
      return scope.feature(expression.ref);
    case 'context':
      return scope.context(expression.name);
    case 'unary': {
      const v = evaluateExpression(expression.operand, scope);
      if (expression.op === '-') return typeof v === 'number' ? -v : null;
      return typeof v === 'boolean' ? !v : null;
    }
    case 'conditional':
      return evaluateExpression(expression.test, scope) === true ? evaluateExpression(expression.then, scope) : evaluateExpression(expression.otherwise, scope);
    case 'call':
      return functions[expression.fn](expression.args.map((a) => evaluateExpression(a, scope)));
    case 'binary': {
      const { op } = expression;
      if (op === '&&' || op === '||') {
        const left = evaluateExpression(expression.left, scope);
        if (typeof left !== 'boolean') return null;
        if (op === '&&' ? !left : left) return left;
        const right = evaluateExpression(expression.right, scope);
        return typeof right === 'boolean' ? right : null;
      }
      const left = evaluateExpression(expression.left, scope);
      const right = evaluateExpression(expression.right, scope);
      if (left === null || right === null) return null;
      if (op === '==' || op === '!=') {
        const equal = Array.isArray(left) || Array.isArray(right) ? JSON.stringify(left) === JSON.stringify(right) : left === right;
        return op === '==' ? equal : !equal;
      }
      if (op === '+' && typeof left === 'string' && typeof right === 'string') return left + right;
      if (op === '<' || op === '<=' || op === '>' || op === '>=') {
        if (typeof left !== typeof right || (typeof left !== 'number' && typeof left !== 'string')) return null;
        const l = left as number | string;
        const r = right as number | string;
        return op === '<' ? l < r : op === '<=' ? l <= r : op === '>' ? l > r : l >= r;
      }
      if (typeof left !== 'number' || typeof right !== 'number') return null;
      switch (op) {
        case '+':
          return finite(left + right);
        case '-':
          return finite(left - right);
        case '*':
          return finite(left * right);
        case '/':
          return right === 0 ? null : finite(left / right);
        case '%':
          return right === 0 ? null : finite(left % right);
      }
    }
  }
}
