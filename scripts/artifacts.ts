import { loadConfig } from '../src/config/load-config.js';
import { definitionSchemas, resourceKinds } from '../src/registry/resource-schemas.js';
import { openTrellis } from '../src/trellis.js';

/** A committed, generated file: its path from the repository root and its exact content. */
export interface Artifact {
  readonly path: string;
  readonly content: string;
}

const stringify = (value: unknown) => `${JSON.stringify(value, null, 2)}\n`;

/** JSON Schema of a definitions file, for editors (`# yaml-language-server: $schema=…`) and CI checks. */
export function definitionsJsonSchema(): Record<string, unknown> {
  return {
    $schema: 'http://json-schema.org/draft-07/schema#',
    $id: 'https://trellis.dev/schemas/definitions.json',
    title: 'Trellis definitions',
    description: 'A list of Trellis resources; apply with `trellis apply <file>` or POST /v1/apply',
    type: 'object',
    additionalProperties: false,
    required: ['resources'],
    properties: {
      resources: { type: 'array', items: { oneOf: resourceKinds.map((k) => ({ $ref: `#/definitions/${k}` })) } },
    },
    definitions: Object.fromEntries(resourceKinds.map((k) => [k, JSON.parse(JSON.stringify(definitionSchemas[k]))])),
  };
}

/** Every generated artifact, rendered from the code. The drift test compares them with the committed files. */
export async function renderArtifacts(): Promise<Artifact[]> {
  const trellis = await openTrellis(loadConfig({ logLevel: 'silent', dataDir: ':memory:', adminKey: 'trl_00000000_artifactgenerationkeyxxxxxxxxxxxx' }, {}));
  try {
    return [
      { path: 'openapi/openapi.json', content: stringify(trellis.app.swagger()) },
      { path: 'definitions/schema.json', content: stringify(definitionsJsonSchema()) },
    ];
  } finally {
    await trellis.close();
  }
}
