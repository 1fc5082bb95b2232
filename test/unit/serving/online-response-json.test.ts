import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeOnlineCell, encodeOnlineCell, onlineValueStatus, type OnlineValue, type OnlineValueStatus, type OnlineValueType } from '../../../src/spi/online-store.js';
import type { OnlineReadResult, ServedValue } from '../../../src/serving/online-reader.js';
import { encodedRowsJson, onlineJsonHead, placeEncodedRows, plainJsonNumberAt, serializeOnlineResult } from '../../../src/serving/online-response-json.js';

const statuses: OnlineValueStatus[] = ['PRESENT', 'NULL_VALUE', 'NOT_FOUND', 'OUTSIDE_MAX_AGE'];

/** Strings with quotes, backslashes, control characters, lone surrogates, astral characters. */
const nastyString = fc.oneof(
  fc.string({ unit: 'grapheme', maxLength: 12 }),
  fc.string({ unit: 'binary', maxLength: 12 }),
  fc.string({ unit: fc.constantFrom('"', '\\', '\n', '\u0000', '\u001f', '\u007f', '\u2028', '\ud800', '\udfff', '😀', 'é', '/', 'a'), maxLength: 12 }),
);
const anyNumber = fc.oneof(fc.double(), fc.integer(), fc.constantFrom(NaN, Infinity, -Infinity, -0, 0, 1e21, 1e-7, Number.MAX_SAFE_INTEGER, Number.MIN_VALUE));
const servedValue: fc.Arbitrary<ServedValue> = fc.oneof(
  fc.constant(null),
  anyNumber,
  nastyString,
  fc.boolean(),
  fc.array(fc.oneof(fc.double(), fc.constantFrom(NaN, Infinity, -0)), { maxLength: 5 }),
  fc.bigInt({ min: 2n ** 53n, max: 2n ** 64n }).map((b) => b.toString()), // ints beyond 2^53 are served as digit strings
  fc.date({ noInvalidDate: true }).map((d) => d.toISOString()), // timestamps are served as ISO strings
);

const typedResult: fc.Arbitrary<OnlineReadResult> = fc.integer({ min: 0, max: 6 }).chain((width) =>
  fc.record({
    features: fc.array(nastyString, { minLength: width, maxLength: width }),
    results: fc.array(
      fc.record({
        values: fc.array(servedValue, { minLength: width, maxLength: width }),
        statuses: fc.array(fc.constantFrom(...statuses), { minLength: width, maxLength: width }),
        eventTimestamps: fc.array(fc.option(fc.integer({ min: -(2 ** 52), max: 2 ** 52 }), { nil: null }), { minLength: width, maxLength: width }),
      }),
      { maxLength: 4 },
    ),
  }),
);

describe('serializeOnlineResult', () => {
  it('parses to exactly what JSON.stringify of the same result parses to', () => {
    fc.assert(
      fc.property(typedResult, (result) => {
        expect(JSON.parse(serializeOnlineResult(result))).toStrictEqual(JSON.parse(JSON.stringify(result)));
      }),
      { numRuns: 500 },
    );
  });

  it('writes NaN and ±Infinity as null, -0 as 0, and escapes control characters', () => {
    const text = serializeOnlineResult({ features: ['a"b'], results: [{ values: [NaN, Infinity, -0, 'x\u0000"\n'] as ServedValue[], statuses: ['PRESENT', 'PRESENT', 'PRESENT', 'PRESENT'], eventTimestamps: [1, null, 2, 3] }] });
    expect(text).toBe('{"features":["a\\"b"],"results":[{"values":[null,null,0,"x\\u0000\\"\\n"],"statuses":["PRESENT","PRESENT","PRESENT","PRESENT"],"eventTimestamps":[1,null,2,3]}]}');
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Encoded cells: the oracle is the typed path — decodeOnlineCell + onlineValueStatus, then JSON.stringify.

interface EncodedCase {
  width: number;
  positions: number[];
  ttls: (number | undefined)[];
  rows: (string | null)[][];
}

function typedOracle(c: EncodedCase, nowMs: number): OnlineReadResult['results'] {
  return c.rows.map((row) => {
    const out = { values: new Array<ServedValue>(c.width).fill(null), statuses: new Array<OnlineValueStatus>(c.width).fill('NOT_FOUND'), eventTimestamps: new Array<number | null>(c.width).fill(null) };
    row.forEach((text, t) => {
      const at = c.positions[t]!;
      const cell = text === null ? null : decodeOnlineCell(text);
      const status = onlineValueStatus(cell, c.ttls[t], nowMs);
      out.statuses[at] = status;
      if (cell) {
        out.eventTimestamps[at] = cell.eventTs;
        if (status === 'PRESENT') out.values[at] = cell.value instanceof Date ? cell.value.toISOString() : (cell.value as ServedValue);
      }
    });
    return out;
  });
}

const NOW = 1_763_900_000_000;
const eventTs = fc.oneof(fc.integer({ min: NOW - 10_000_000, max: NOW }), fc.integer({ min: -(2 ** 53) + 1, max: 2 ** 53 - 1 }), fc.constantFrom(0, -1, 1));

/** A value of each online type, encoded as the stores write it. */
const writtenCell: fc.Arbitrary<string> = fc.oneof(
  fc.tuple(fc.constant<OnlineValueType>('float'), fc.oneof(anyNumber, fc.double({ noNaN: true })) as fc.Arbitrary<OnlineValue>),
  fc.tuple(fc.constant<OnlineValueType>('string'), nastyString as fc.Arbitrary<OnlineValue>),
  fc.tuple(fc.constant<OnlineValueType>('int'), fc.oneof(fc.integer(), fc.maxSafeInteger(), fc.bigInt({ min: -(2n ** 70n), max: 2n ** 70n }).map((b) => b.toString())) as fc.Arbitrary<OnlineValue>),
  fc.tuple(fc.constant<OnlineValueType>('bool'), fc.boolean() as fc.Arbitrary<OnlineValue>),
  fc.tuple(fc.constant<OnlineValueType>('timestamp'), fc.date({ noInvalidDate: true }) as fc.Arbitrary<OnlineValue>),
  fc.tuple(fc.constant<OnlineValueType>('float_list'), fc.array(fc.oneof(fc.double(), fc.constantFrom(NaN, -0)), { maxLength: 4 }) as fc.Arbitrary<OnlineValue>),
  fc.tuple(fc.constantFrom<OnlineValueType>('float', 'string', 'int', 'bool'), fc.constant(null)),
).chain(([type, value]) => eventTs.map((ts) => encodeOnlineCell(type, value, ts)));

/** Cell text other writers could leave: odd float/int payloads, event times with leading zeros or "-0". */
const oddCell: fc.Arbitrary<string> = fc
  .tuple(
    fc.oneof(fc.constantFrom('0', '-0', '007', '-000', '00'), fc.integer({ min: 0, max: 2 ** 40 }).map(String)),
    fc.constantFrom('f', 'i'),
    fc.oneof(
      fc.string({ unit: fc.constantFrom('0', '1', '9', '.', '-', 'e', '+', 'E'), maxLength: 10 }),
      fc.constantFrom('', '-0', '-0.0', '-0.5', '0.50', '1e400', '1'.repeat(22), '1'.repeat(21), '.5', '5.', '01', 'NaN', 'Infinity', '-Infinity', '1e-7', '12345678901234567890123'),
    ),
  )
  .map(([ts, tag, payload]) => `${ts}:${tag}${payload}`);

const encodedCase: fc.Arbitrary<EncodedCase> = fc.integer({ min: 1, max: 6 }).chain((width) =>
  fc.record({
    width: fc.constant(width),
    // a subset of the response positions, in any order (a store call covers some of the features)
    positions: fc.shuffledSubarray(Array.from({ length: width }, (_, i) => i), { minLength: 1 }),
    ttls: fc.array(fc.option(fc.integer({ min: 1, max: 20_000 }), { nil: undefined }), { minLength: width, maxLength: width }),
  }).chain(({ width: w, positions, ttls }) =>
    fc.record({
      width: fc.constant(w),
      positions: fc.constant(positions),
      ttls: fc.constant(ttls.slice(0, positions.length)),
      rows: fc.array(fc.array(fc.option(fc.oneof(writtenCell, oddCell), { nil: null }), { minLength: positions.length, maxLength: positions.length }), { maxLength: 4 }),
    }),
  ),
);

/** The response bytes for one store call's rows placed at their positions (the reader's multi-call path). */
function encodedJson(features: string[], c: EncodedCase): string {
  const rows: (string | null)[][] = [];
  placeEncodedRows(rows, c.rows, c.positions, c.width);
  const ttls = new Array<number | undefined>(c.width).fill(undefined);
  c.positions.forEach((p, t) => (ttls[p] = c.ttls[t]));
  return String(encodedRowsJson(onlineJsonHead(JSON.stringify(features)), rows, ttls, NOW));
}

describe('encodedRowsJson', () => {
  it('gives the JSON of the typed path for every cell text the stores write, ttl and null statuses included', () => {
    fc.assert(
      fc.property(encodedCase, fc.array(nastyString, { maxLength: 6 }), (c, names) => {
        const features = Array.from({ length: c.width }, (_, i) => names[i] ?? `f${i}`);
        const expected = { features, results: typedOracle(c, NOW) };
        expect(JSON.parse(encodedJson(features, c))).toStrictEqual(JSON.parse(JSON.stringify(expected)));
      }),
      { numRuns: 1000 },
    );
  });

  it('grows its buffer for long strings and many cells', () => {
    const long = 'é"\u0000😀'.repeat(5000);
    const c: EncodedCase = { width: 3, positions: [0, 1, 2], ttls: [undefined, undefined, undefined], rows: Array.from({ length: 300 }, (_, r) => [encodeOnlineCell('string', long, r), encodeOnlineCell('float', r / 7, r), null]) };
    expect(JSON.parse(encodedJson(['a', 'b', 'c'], c))).toStrictEqual(JSON.parse(JSON.stringify({ features: ['a', 'b', 'c'], results: typedOracle(c, NOW) })));
  });

  it('fills two store calls into one response at their positions; unplaced cells stay NOT_FOUND', () => {
    const rows: (string | null)[][] = [];
    placeEncodedRows(rows, [[encodeOnlineCell('float', 0.1, 5)], [null]], [2], 3);
    placeEncodedRows(rows, [[encodeOnlineCell('string', 'a"', 6)], [encodeOnlineCell('int', '9007199254740993', 7)]], [0], 3);
    expect(JSON.parse(String(encodedRowsJson(onlineJsonHead('["a","b","c"]'), rows, [undefined, undefined, undefined], NOW)))).toStrictEqual({
      features: ['a', 'b', 'c'],
      results: [
        { values: ['a"', null, 0.1], statuses: ['PRESENT', 'NOT_FOUND', 'PRESENT'], eventTimestamps: [6, null, 5] },
        { values: ['9007199254740993', null, null], statuses: ['PRESENT', 'NOT_FOUND', 'NOT_FOUND'], eventTimestamps: [7, null, null] },
      ],
    });
  });

  it('throws on text that is not a cell, as the typed path does', () => {
    for (const text of ['', 'abc', '12', '12:', ':f1', '99999999999999999999:f1', '5:x1', '5:q']) {
      expect(() => decodeOnlineCell(text)).toThrow();
      expect(() => encodedRowsJson(onlineJsonHead('["a"]'), [[text]], [undefined], NOW)).toThrow();
      expect(() => encodedRowsJson(onlineJsonHead('["a"]'), [[text]], [1], NOW)).toThrow();
    }
  });
});

describe('plainJsonNumberAt', () => {
  it('accepts exactly the texts that are JSON numbers without exponent, "-0…" prefix or more than 21 integer digits', () => {
    const grammar = /^(0|-?[1-9][0-9]{0,20})(\.[0-9]+)?$/;
    fc.assert(
      fc.property(fc.oneof(fc.string({ unit: fc.constantFrom('0', '1', '5', '9', '.', '-', 'e', '+', 'x'), maxLength: 30 }), fc.double().map(String)), (text) => {
        expect(plainJsonNumberAt(`12:f${text}`, 4)).toBe(grammar.test(text));
        if (grammar.test(text)) expect(JSON.parse(text)).toBe(+text);
      }),
      { numRuns: 2000 },
    );
  });
});
