/**
 * Field paths of stream sources: each field is read at its JSON pointer (RFC 6901) in the event. Property: for random
 * member names (with '/' and '~' in them) nested at random depths, the parsed values equal the values placed there,
 * and a value of the wrong type is reported at exactly its pointer.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseStreamEvent } from '../../../src/streaming/stream-event-parser.js';
import type { StreamSourceSpec } from '../../../src/streaming/stream-job.js';

const escape = (segment: string) => segment.replaceAll('~', '~0').replaceAll('/', '~1');

/** Builds the event by placing each value at its path (paths never share a first member, so none is a prefix of another). */
function place(paths: readonly (readonly string[])[], values: readonly unknown[]): Record<string, unknown> {
  const event: Record<string, unknown> = {};
  paths.forEach((steps, i) => {
    let node = event;
    steps.slice(0, -1).forEach((step) => {
      node = (Object.hasOwn(node, step) ? node[step] : Object.defineProperty(node, step, { value: {}, enumerable: true, writable: true })[step]) as Record<string, unknown>;
    });
    Object.defineProperty(node, steps.at(-1)!, { value: values[i], enumerable: true, writable: true });
  });
  // Through JSON, as events arrive.
  return JSON.parse(JSON.stringify(event)) as Record<string, unknown>;
}

const segment = fc.oneof(fc.string({ maxLength: 6 }), fc.constantFrom('~', '/', '~1', '~0/', '__proto__', 'constructor', ''));
const fieldsArb = fc.uniqueArray(fc.record({ first: fc.string({ minLength: 1, maxLength: 5 }), rest: fc.array(segment, { maxLength: 3 }), value: fc.option(fc.integer(), { nil: null }) }), {
  minLength: 1,
  maxLength: 6,
  selector: (f) => f.first,
});

const source = (fields: StreamSourceSpec['fields']): StreamSourceSpec => ({
  id: 's@default', provider: 'p@default', topic: 't', timestampField: 'ts', allowedLatenessMs: 0,
  fields: [...fields, { name: 'ts', type: 'timestamp', path: '/meta/ts' }],
});

describe('stream event field paths', () => {
  it('reads every field at its pointer, however its member names are spelled', () => {
    fc.assert(
      fc.property(fieldsArb, (drawn) => {
        const paths = drawn.map((f) => [`m${f.first}`, ...f.rest]);
        const fields = drawn.map((_, i) => ({ name: `f${i}`, type: 'int' as const, path: `/${paths[i]!.map(escape).join('/')}` }));
        const event = { ...place(paths, drawn.map((f) => f.value)), meta: { ts: 1_000 } };
        const parsed = parseStreamEvent(source(fields), event);
        expect(parsed.ok).toBe(true);
        if (!parsed.ok) return;
        expect(parsed.event.eventTs).toBe(1_000);
        drawn.forEach((f, i) => expect(parsed.event.values[`f${i}`]).toBe(f.value));
      }),
      { numRuns: 500 },
    );
  });

  it('reports a value of the wrong type, or a missing required one, at its pointer', () => {
    fc.assert(
      fc.property(fieldsArb, fc.nat(), fc.boolean(), (drawn, pick, missing) => {
        const paths = drawn.map((f) => [`m${f.first}`, ...f.rest]);
        const fields = drawn.map((_, i) => ({ name: `f${i}`, type: 'int' as const, path: `/${paths[i]!.map(escape).join('/')}` }));
        const bad = pick % drawn.length;
        const values = drawn.map((f, i) => (i === bad ? (missing ? null : 'text') : f.value));
        const parsed = parseStreamEvent(source(fields), { ...place(paths, values), meta: { ts: 1 } }, new Set([`f${bad}`]));
        expect(parsed).toEqual({ ok: false, problem: { pointer: fields[bad]!.path, reason: missing ? `missing f${bad}` : 'expected an integer, got string' } });
      }),
      { numRuns: 300 },
    );
  });

  it('does not read inherited members, and defaults a path to the escaped name', () => {
    const spec = source([{ name: 'constructor', type: 'string' }, { name: 'a/b~c', type: 'string' }, { name: 'deep', type: 'string', path: '/x/toString' }]);
    const parsed = parseStreamEvent(spec, { 'a/b~c': 'v', x: {}, meta: { ts: 5 } });
    expect(parsed).toEqual({ ok: true, event: { eventTs: 5, values: { constructor: null, 'a/b~c': 'v', deep: null, ts: 5 } } });
    expect(parseStreamEvent(spec, { 'a/b~c': 1, meta: { ts: 5 } })).toEqual({ ok: false, problem: { pointer: '/a~1b~0c', reason: 'expected a string, got number' } });
    expect(parseStreamEvent(spec, { meta: 'late' })).toEqual({ ok: false, problem: { pointer: '/meta/ts', reason: 'missing event time' } });
  });
});
