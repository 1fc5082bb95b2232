import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { evaluateExpression, type ExpressionValue } from '../../../src/serving/on-demand/expression-evaluator.js';
import { ExpressionError, expressionFeatures, parseExpression, type Expression } from '../../../src/serving/on-demand/expression-parser.js';

const scope = (features: Record<string, ExpressionValue>, context: Record<string, ExpressionValue> = {}) => ({
  feature: (ref: string) => features[ref] ?? null,
  context: (name: string) => context[name] ?? null,
});
const run = (source: string, features: Record<string, ExpressionValue> = {}, context: Record<string, ExpressionValue> = {}) =>
  evaluateExpression(parseExpression(source), scope(features, context));

/** Prints an AST fully parenthesised; parsing the print must give the same AST back. */
function print(e: Expression): string {
  switch (e.type) {
    case 'literal':
      return typeof e.value === 'string' ? JSON.stringify(e.value) : String(e.value);
    case 'feature':
      return e.ref;
    case 'context':
      return `context.${e.name}`;
    case 'unary':
      return `${e.op}(${print(e.operand)})`;
    case 'binary':
      return `(${print(e.left)} ${e.op} ${print(e.right)})`;
    case 'conditional':
      return `(${print(e.test)} ? ${print(e.then)} : ${print(e.otherwise)})`;
    case 'call':
      return `${e.fn}(${e.args.map(print).join(', ')})`;
  }
}

const ast: fc.Arbitrary<Expression> = fc.letrec<{ e: Expression }>((tie) => ({
  e: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.record({ type: fc.constant('literal' as const), value: fc.oneof(fc.nat(1000), fc.boolean(), fc.constant(null), fc.stringMatching(/^[a-z ]{0,5}$/)) }),
    fc.record({ type: fc.constant('feature' as const), ref: fc.constantFrom('amount', 'count_7d', 'avg@v2') }),
    fc.record({ type: fc.constant('context' as const), name: fc.constantFrom('price', 'country') }),
    fc.record({ type: fc.constant('unary' as const), op: fc.constantFrom('-' as const, '!' as const), operand: tie('e') }),
    fc.record({ type: fc.constant('binary' as const), op: fc.constantFrom('||', '&&', '==', '!=', '<', '<=', '>', '>=', '+', '-', '*', '/', '%'), left: tie('e'), right: tie('e') }),
    fc.record({ type: fc.constant('conditional' as const), test: tie('e'), then: tie('e'), otherwise: tie('e') }),
    fc.record({ type: fc.constant('call' as const), fn: fc.constant('abs' as const), args: fc.tuple(tie('e')) }),
    fc.record({ type: fc.constant('call' as const), fn: fc.constantFrom('coalesce' as const, 'max' as const), args: fc.array(tie('e'), { minLength: 1, maxLength: 3 }) }),
  ),
})).e as fc.Arbitrary<Expression>;

describe('on-demand expressions', () => {
  it('round-trips any expression through print and parse', () => {
    fc.assert(
      fc.property(ast, (e) => {
        expect(parseExpression(print(e))).toEqual(e);
      }),
      { numRuns: 300 },
    );
  });

  it('never throws while evaluating, whatever the values', () => {
    const value = fc.oneof(fc.double(), fc.integer(), fc.boolean(), fc.constant(null), fc.string({ maxLength: 4 }));
    fc.assert(
      fc.property(ast, value, value, value, (e, a, b, c) => {
        const result = evaluateExpression(e, scope({ amount: a, count_7d: b, 'avg@v2': c }, { price: a, country: c }));
        expect(result === null || ['string', 'number', 'boolean'].includes(typeof result) || Array.isArray(result)).toBe(true);
      }),
      { numRuns: 500 },
    );
  });

  it('follows arithmetic precedence and associativity', () => {
    fc.assert(
      fc.property(fc.integer({ min: -50, max: 50 }), fc.integer({ min: -50, max: 50 }), fc.integer({ min: 1, max: 50 }), (a, b, c) => {
        expect(run('x + y * z', { x: a, y: b, z: c })).toBe(a + b * c);
        expect(run('x - y - z', { x: a, y: b, z: c })).toBe(a - b - c);
        expect(run('x / z * y', { x: a, y: b, z: c })).toBeCloseTo((a / c) * b, 10);
      }),
    );
  });

  it('propagates null, refuses to divide by zero and short-circuits logic', () => {
    expect(run('amount * 2', { amount: null })).toBeNull();
    expect(run('amount / 0', { amount: 3 })).toBeNull();
    expect(run('coalesce(amount, 0) + 1', { amount: null })).toBe(1);
    expect(run('false && amount > 1', { amount: null })).toBe(false);
    expect(run('true || amount > 1', { amount: null })).toBe(true);
    expect(run('amount > 1', { amount: 'x' })).toBeNull();
    expect(run("context.country == 'NL' ? round(amount * 1.21, 2) : amount", { amount: 10.005 }, { country: 'NL' })).toBe(12.11);
    expect(run('lower(name) + "!"', { name: 'ABC' })).toBe('abc!');
  });

  it('names the features it reads', () => {
    expect(expressionFeatures(parseExpression('a / max(b@v2, 1) + context.c'))).toEqual(['a', 'b@v2']);
  });

  it.each([
    ['process.exit(1)', /unknown function/],
    ['process.env', /only context/],
    ['constructor("x")', /unknown function/],
    ['a +', /end of expression/],
    ['(a', /expected/],
    ['a ; b', /unexpected character/],
    ['abs(1, 2)', /takes 1/],
    ['1 2', /after the expression/],
    ['-'.repeat(100) + '1', /nested too deeply/],
  ])('refuses %j', (source, message) => {
    expect(() => parseExpression(source)).toThrow(ExpressionError);
    expect(() => parseExpression(source)).toThrow(message);
  });
});
