import { readFile } from 'node:fs/promises';
import SwaggerParser from '@apidevtools/swagger-parser';
import { describe, expect, it } from 'vitest';
import { renderArtifacts } from '../../scripts/artifacts.js';

describe('generated artifacts', async () => {
  const artifacts = await renderArtifacts();

  it.each(artifacts.map((a) => [a.path, a] as const))('%s matches the code (run `npm run gen` after changing routes or schemas)', async (_path, artifact) => {
    const committed = await readFile(artifact.path, 'utf8');
    expect(committed).toBe(artifact.content);
  });

  it('is a valid OpenAPI document with an operationId and tags on every operation', async () => {
    const doc = JSON.parse(artifacts.find((a) => a.path === 'openapi/openapi.json')!.content);
    await SwaggerParser.validate(structuredClone(doc));
    for (const [route, ops] of Object.entries(doc.paths as Record<string, Record<string, { operationId?: string; tags?: string[] }>>)) {
      for (const [method, op] of Object.entries(ops)) {
        expect(op.operationId, `${method} ${route}`).toBeTruthy();
        expect(op.tags?.length, `${method} ${route}`).toBeGreaterThan(0);
      }
    }
  });
});
