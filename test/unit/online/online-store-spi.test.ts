import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  OnlineStoreBase,
  OnlineStoreError,
  decodeOnlineCell,
  encodeEntityKey,
  encodeOnlineCell,
  encodedCellEventTs,
  isOnlineStore,
  isOnlineStoreError,
  normalizeOnlineValue,
  onlineStoreCapabilities,
  onlineValueStatus,
  onlineValueTypes,
  type EntityKeyValue,
  type OnlineStore,
} from '../../../src/spi/online-store.js';

describe('encodeEntityKey', () => {
  it('encodes typed, length-prefixed parts', () => {
    expect(encodeEntityKey(['user_123'])).toBe('s8:user_123');
    expect(encodeEntityKey(['a:b', 1])).toBe('s3:a:bi1:1');
    expect(encodeEntityKey(['a', ':b1'])).toBe('s1:as3::b1');
    expect(encodeEntityKey([true, false, 1.5, -7])).toBe('b1:1b1:0f3:1.5i2:-7');
    expect(encodeEntityKey([2 ** 60])).toBe(encodeEntityKey([2n ** 60n]));
    expect(encodeEntityKey([1e21])).toBe(`i22:${10n ** 21n}`);
    expect(encodeEntityKey([-0])).toBe(encodeEntityKey([0]));
    expect(encodeEntityKey(['😀'])).toBe('s2:😀');
  });

  it('is injective over typed key tuples (property)', () => {
    const part = fc.oneof(fc.string({ unit: 'binary', maxLength: 5 }), fc.constantFrom('s1:', 'i1:1', ':', ''), fc.integer({ min: -20, max: 20 }), fc.boolean(), fc.double({ noNaN: true, noDefaultInfinity: true }));
    const identity = (key: EntityKeyValue[]): string =>
      JSON.stringify(key.map((p) => (typeof p === 'number' && Number.isInteger(p) ? `i${BigInt(p)}` : typeof p === 'number' ? `f${p}` : `${typeof p}:${String(p)}`)));
    fc.assert(
      fc.property(fc.array(part, { minLength: 1, maxLength: 4 }), fc.array(part, { minLength: 1, maxLength: 4 }), (a, b) => {
        expect(encodeEntityKey(a) === encodeEntityKey(b)).toBe(identity(a) === identity(b));
      }),
      { numRuns: 2000 },
    );
  });

  it('rejects what it cannot encode unambiguously', () => {
    for (const key of [[], [Number.NaN], [Number.NEGATIVE_INFINITY], ['\uDC00x'], [null], [undefined], [{}]] as unknown as EntityKeyValue[][]) {
      expect(() => encodeEntityKey(key)).toThrow(OnlineStoreError);
    }
  });
});

describe('online cells', () => {
  it('encodes the documented text form', () => {
    expect(encodeOnlineCell('int', 42, 1700000000000)).toBe('1700000000000:i42');
    expect(encodeOnlineCell('int', '9223372036854775807', 1)).toBe('1:i9223372036854775807');
    expect(encodeOnlineCell('float', -0, 1)).toBe('1:f-0');
    expect(encodeOnlineCell('bool', false, 1)).toBe('1:b0');
    expect(encodeOnlineCell('string', 'a:b', -5)).toBe('-5:sa:b');
    expect(encodeOnlineCell('timestamp', new Date(1234), 1)).toBe('1:t1234');
    expect(encodeOnlineCell('float_list', [], 1)).toBe('1:a');
    expect(encodeOnlineCell('float_list', [1], 1)).toBe('1:aAAAAAAAA8D8=');
    expect(encodeOnlineCell('string', null, 1)).toBe('1:n');
    expect(encodedCellEventTs('1700000000000:sx')).toBe(1700000000000);
  });

  it('round-trips every type through encode and decode (property)', () => {
    const arbitrary = {
      string: fc.string({ unit: 'binary' }),
      int: fc.oneof(fc.maxSafeInteger(), fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n })),
      float: fc.double(),
      bool: fc.boolean(),
      timestamp: fc.date({ noInvalidDate: true }),
      float_list: fc.array(fc.double()),
    } as const;
    for (const type of onlineValueTypes) {
      fc.assert(
        fc.property(fc.option(arbitrary[type] as fc.Arbitrary<never>), fc.maxSafeInteger(), (raw, eventTs) => {
          const value = normalizeOnlineValue(type, raw);
          const cell = decodeOnlineCell(encodeOnlineCell(type, value, eventTs));
          expect(cell.eventTs).toBe(eventTs);
          if (value instanceof Date) expect((cell.value as Date).getTime()).toBe(value.getTime());
          else if (Array.isArray(value)) expect((cell.value as number[]).every((x, i) => Object.is(x, value[i])) && (cell.value as number[]).length === value.length).toBe(true);
          else expect(Object.is(cell.value, value)).toBe(true);
        }),
        { numRuns: 300 },
      );
    }
  });

  it('normalizes ints to numbers when safe and to exact strings beyond', () => {
    expect(normalizeOnlineValue('int', 2n ** 53n - 1n)).toBe(2 ** 53 - 1);
    expect(normalizeOnlineValue('int', 2n ** 53n)).toBe('9007199254740992');
    expect(normalizeOnlineValue('int', '-0007')).toBe(-7);
    expect(normalizeOnlineValue('int', -0)).toBe(0);
    expect(() => normalizeOnlineValue('int', 2 ** 53)).toThrow(/safe integer/);
    expect(() => normalizeOnlineValue('int', 2n ** 63n)).toThrow(/int64/);
    expect(() => normalizeOnlineValue('bool', 1)).toThrow(/expected bool, got number/);
    expect(() => normalizeOnlineValue('float_list', [1, '2'] as never)).toThrow(/\/value\/1/);
    expect(normalizeOnlineValue('timestamp', 1.9)).toEqual(new Date(1));
    expect(() => normalizeOnlineValue('timestamp', new Date(Number.NaN))).toThrow(/invalid timestamp/);
    expect(Object.isFrozen(normalizeOnlineValue('float_list', new Float32Array([0.5])))).toBe(true);
  });

  it('refuses text that is not a cell', () => {
    for (const text of ['', 'abc', '12:z', 'x:i1', '1.5:i1']) expect(() => decodeOnlineCell(text)).toThrow(/not an online cell/);
  });
});

describe('onlineValueStatus', () => {
  it('applies ttl like the point-in-time join (eventTs ≥ now − ttl is fresh)', () => {
    expect(onlineValueStatus(null, 10, 0)).toBe('NOT_FOUND');
    expect(onlineValueStatus({ value: 1, eventTs: 90_000 }, 10, 100_000)).toBe('PRESENT');
    expect(onlineValueStatus({ value: 1, eventTs: 89_999 }, 10, 100_000)).toBe('OUTSIDE_MAX_AGE');
    expect(onlineValueStatus({ value: null, eventTs: 89_999 }, 10, 100_000)).toBe('OUTSIDE_MAX_AGE');
    expect(onlineValueStatus({ value: null, eventTs: 0 }, undefined, 1e15)).toBe('NULL_VALUE');
    expect(onlineValueStatus({ value: 1, eventTs: 200_000 }, 10, 100_000)).toBe('PRESENT');
  });
});

describe('tags and capabilities', () => {
  class MinimalStore extends OnlineStoreBase {
    readonly adapterId = 'minimal';
    ensureTable = async (): Promise<void> => {};
    getTable = async (): Promise<null> => null;
    dropTable = async (): Promise<void> => {};
    writeBatch = async () => ({ written: 0, skippedOlder: 0 });
    read = async () => [];
    deleteEntity = async (): Promise<number> => 0;
    close = async (): Promise<void> => {};
  }

  it('defaults every capability to false and recognises stores by tag', () => {
    const store = new MinimalStore();
    expect(onlineStoreCapabilities(store)).toEqual({ supportsTtlExpiry: false, supportsCluster: false, supportsSharedAccess: false, supportsPersistence: false });
    expect(isOnlineStore(store)).toBe(true);
    expect(isOnlineStore({ ...store, kind: 'trellis.online-store' })).toBe(true);
    expect(isOnlineStore({ kind: 'other' })).toBe(false);
    const plain = { kind: 'trellis.online-store', adapterId: 'plain', supportsCluster: true } as unknown as OnlineStore;
    expect(onlineStoreCapabilities(plain)).toMatchObject({ supportsCluster: true, supportsTtlExpiry: false });
  });

  it('recognises errors by tag and code, with catalogue params', () => {
    const error = new OnlineStoreError('TRELLIS_ERR_ONLINE_UNAVAILABLE', { provider: 'redis', reason: 'down' });
    expect(error.message).toBe('Online store redis unavailable: down');
    expect(isOnlineStoreError(error)).toBe(true);
    expect(isOnlineStoreError(error, 'TRELLIS_ERR_ONLINE_UNAVAILABLE')).toBe(true);
    expect(isOnlineStoreError(error, 'TRELLIS_ERR_VALIDATION')).toBe(false);
    expect(isOnlineStoreError({ ...error, [Symbol.for('trellis.online-store-error')]: true, code: 'TRELLIS_ERR_VALIDATION' }, 'TRELLIS_ERR_VALIDATION')).toBe(true);
    expect(isOnlineStoreError(new Error('x'))).toBe(false);
  });
});

describe('encodeReadCell', () => {
  it('encodes cells as read so that they decode to equal values (property)', async () => {
    const { encodeReadCell } = await import('../../../src/spi/online-store.js');
    const value = fc.oneof(fc.string({ unit: 'binary' }), fc.double(), fc.maxSafeInteger(), fc.boolean(), fc.constant(null), fc.date({ noInvalidDate: true }), fc.array(fc.double()), fc.constant('9223372036854775807'));
    fc.assert(
      fc.property(value, fc.maxSafeInteger(), (v, eventTs) => {
        const decoded = decodeOnlineCell(encodeReadCell({ value: v, eventTs }));
        expect(decoded.eventTs).toBe(eventTs);
        if (v instanceof Date) expect((decoded.value as Date).getTime()).toBe(v.getTime());
        else if (Array.isArray(v)) expect(decoded.value).toEqual(v);
        else expect(Object.is(decoded.value, v)).toBe(true);
      }),
      { numRuns: 500 },
    );
  });
});

describe('encodedCellEventTs', () => {
  it('reads the event time without decoding', () => {
    expect(encodedCellEventTs('1700000000000:f0.5')).toBe(1700000000000);
    expect(encodedCellEventTs('-5:n')).toBe(-5);
    expect(encodedCellEventTs('0:sx')).toBe(0);
    expect(encodedCellEventTs('abc')).toBeNaN();
    expect(encodedCellEventTs('12')).toBeNaN();
  });
});
