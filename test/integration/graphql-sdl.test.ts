import { readFileSync, writeFileSync } from 'node:fs';
import { buildClientSchema, buildSchema, getIntrospectionQuery, isObjectType, printSchema, type IntrospectionQuery } from 'graphql/index.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { printGraphqlSchema } from '../../src/api/graphql/print-graphql-schema.js';
import { openTestTrellis, registryFlavours, type TestTrellis } from '../support/trellis-harness.js';

const SDL_PATH = new URL('../../openapi/schema.graphql', import.meta.url);

describe('GraphQL SDL', () => {
  it('openapi/schema.graphql is the printed schema (regenerate: TRELLIS_UPDATE_SDL=1 npx vitest run test/integration/graphql-sdl.test.ts)', () => {
    const printed = printGraphqlSchema();
    if (process.env.TRELLIS_UPDATE_SDL === '1') writeFileSync(SDL_PATH, printed);
    const committed = readFileSync(SDL_PATH, 'utf8');
    expect(committed, 'openapi/schema.graphql drifted from the schema; regenerate it with TRELLIS_UPDATE_SDL=1').toBe(printed);
  });

  it('gives a field one type on every resource kind, so fragments on several kinds can select it together', () => {
    const schema = buildSchema(printGraphqlSchema());
    const fieldTypes = new Map<string, Map<string, string>>();
    for (const type of schema.getPossibleTypes(schema.getType('Resource') as never)) {
      if (!isObjectType(type)) continue;
      for (const [name, field] of Object.entries(type.getFields())) {
        const seen = fieldTypes.get(name) ?? new Map<string, string>();
        seen.set(type.name, String(field.type));
        fieldTypes.set(name, seen);
      }
    }
    // `variants` differs on purpose: the variants of a Feature are Features.
    const conflicts = [...fieldTypes]
      .filter(([name, byType]) => name !== 'variants' && new Set(byType.values()).size > 1)
      .map(([name, byType]) => `${name}: ${[...byType].map(([type, field]) => `${type}=${field}`).join(', ')}`);
    expect(conflicts).toEqual([]);
  });
});

describe.each(registryFlavours)('GraphQL SDL served on %s', (flavour) => {
  let t: TestTrellis;
  beforeAll(async () => {
    t = await openTestTrellis(flavour);
  });
  afterAll(async () => {
    await t?.close();
  });

  it('is the schema /graphql answers introspection with', async () => {
    const res = await t.app.inject({ method: 'POST', url: '/graphql', headers: t.auth, payload: { query: getIntrospectionQuery({ schemaDescription: true }) } });
    expect(res.statusCode).toBe(200);
    const served = buildClientSchema((res.json() as { data: IntrospectionQuery }).data);
    expect(`${printSchema(served)}\n`).toBe(printGraphqlSchema());
  });
});
