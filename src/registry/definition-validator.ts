import { Value } from '@sinclair/typebox/value';
import { Cron } from 'croner';
import { TrellisError, invalidDefinition } from '../errors/trellis-error.js';
import { ExpressionError, expressionFeatures, parseExpression } from '../serving/on-demand/expression-parser.js';
import { durationSeconds } from './resource-ref.js';
import { parseTableName } from './source-verifier.js';
import { definitionSchemas, resourceKinds, type ResourceDefinition, type ResourceKind } from './resource-schemas.js';

const SECRET_KEY = /(pass(word)?|secret|token|private_?key|credential|api_?key|access_?key)/i;
const SECRET_REFERENCE = /^(env:[A-Za-z_][A-Za-z0-9_]*|file:\/.+)$/;
const URL_WITH_PASSWORD = /^[a-z][a-z0-9+.-]*:\/\/[^/@:\s]*:[^/@\s]+@/i;
/** A PEM private key pasted under any key name (e.g. a kafka provider's `ssl.key`). */
const PRIVATE_KEY_PEM = /-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----/;

/**
 * Checks one raw definition against its kind's schema and the rules that need no other resource.
 * `pointer` is where the definition sits in the request (e.g. `/resources/3`); errors point below it.
 */
export function validateDefinition(raw: unknown, pointer: string): ResourceDefinition {
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw invalidDefinition(pointer, 'expected an object');
  const kind = (raw as { kind?: unknown }).kind;
  if (typeof kind !== 'string' || !(resourceKinds as readonly string[]).includes(kind)) {
    throw invalidDefinition(`${pointer}/kind`, `unknown kind ${JSON.stringify(kind)}; expected one of ${resourceKinds.join(', ')}`);
  }
  const schema = definitionSchemas[kind as ResourceKind];
  // Report a bad name first: it is what a caller most needs to see, and later errors may stem from it.
  const errors = [...Value.Errors(schema, raw)];
  const first = errors.find((e) => /^\/(name|variant)$/.test(e.path)) ?? errors[0];
  if (first) throw invalidDefinition(`${pointer}${first.path}`, describe(first.message, first.path));
  const def = raw as ResourceDefinition;
  checkRules(def, pointer);
  return def;
}

function describe(message: string, path: string): string {
  if (/\/(name|variant)$/.test(path)) return `${message} (names are [a-z][a-z0-9_]*, no "__", at most 63 characters)`;
  if (message.startsWith('Unexpected property')) return `unknown field ${path.split('/').pop()}`;
  return message;
}

function checkRules(def: ResourceDefinition, pointer: string): void {
  switch (def.kind) {
    case 'provider':
      checkSecrets(def.config ?? {}, `${pointer}/config`);
      break;
    case 'source': {
      const given = (['table', 'query', 'topic'] as const).filter((k) => def[k] !== undefined);
      if (given.length !== 1) throw invalidDefinition(pointer, `a source needs exactly one of table, query or topic (got ${given.join(', ') || 'none'})`);
      if (def.table !== undefined && !parseTableName(def.table)) throw invalidDefinition(`${pointer}/table`, 'expected name, schema.name or catalog.schema.name (no empty part)');
      if (def.query !== undefined && !/^\s*(select|with)\b/i.test(def.query)) throw invalidDefinition(`${pointer}/query`, 'query must be a SELECT or WITH statement');
      if (def.topic !== undefined && !def.fields) throw invalidDefinition(`${pointer}/fields`, 'a topic source needs its fields');
      def.fields?.forEach((field, i) => {
        if (def.fields!.findIndex((f) => f.name === field.name) !== i) throw invalidDefinition(`${pointer}/fields/${i}/name`, `field ${field.name} is declared twice`);
      });
      if (def.offlineCopy !== undefined && !def.fields) throw invalidDefinition(`${pointer}/offlineCopy`, 'only a stream source (one with fields) has an offline copy');
      break;
    }
    case 'transformation':
      if (def.schedule) checkCron(def.schedule, `${pointer}/schedule`);
      break;
    case 'feature': {
      if ((def.column === undefined) === (def.aggregation === undefined)) {
        throw invalidDefinition(pointer, 'a feature needs exactly one of column or aggregation');
      }
      if (def.aggregation && def.aggregation.fn !== 'count' && def.aggregation.column === undefined) {
        throw invalidDefinition(`${pointer}/aggregation/column`, `${def.aggregation.fn} needs a column`);
      }
      if (def.aggregation?.slide !== undefined && (durationMs(def.aggregation.window) % durationMs(def.aggregation.slide) !== 0 || durationMs(def.aggregation.slide) === 0)) {
        throw invalidDefinition(`${pointer}/aggregation/slide`, 'the window must be a positive multiple of the slide');
      }
      if (def.schedule) checkCron(def.schedule, `${pointer}/schedule`);
      break;
    }
    case 'feature_service':
      checkOnDemand(def.features, def.onDemand ?? [], pointer);
      break;
    default:
      break;
  }
}

function checkOnDemand(features: readonly string[], onDemand: readonly { name: string; expression: string }[], pointer: string): void {
  const names = new Set<string>();
  onDemand.forEach((odf, i) => {
    const at = `${pointer}/onDemand/${i}`;
    if (names.has(odf.name)) throw invalidDefinition(`${at}/name`, `on-demand feature ${odf.name} is declared twice`);
    names.add(odf.name);
    let refs: string[];
    try {
      refs = expressionFeatures(parseExpression(odf.expression));
    } catch (error) {
      if (error instanceof ExpressionError) throw invalidDefinition(`${at}/expression`, error.message);
      throw error;
    }
    for (const ref of refs) {
      const matches = features.filter((f) => (ref.includes('@') ? f === ref : f.split('@')[0] === ref));
      if (matches.length !== 1) {
        throw invalidDefinition(`${at}/expression`, matches.length === 0 ? `${ref} is not one of the service's features` : `${ref} matches several variants in the service; write name@variant`);
      }
    }
  });
}

const durationMs = (duration: string): number => Math.round(durationSeconds(duration) * 1000);

function checkCron(expression: string, pointer: string): void {
  try {
    new Cron(expression, { paused: true }).stop();
  } catch (error) {
    throw invalidDefinition(pointer, `invalid cron expression: ${(error as Error).message}`);
  }
}

/** Credentials may appear only as references; a literal secret is refused and never stored. */
export function checkSecrets(config: Record<string, unknown>, pointer: string): void {
  for (const [key, value] of Object.entries(config)) {
    const at = `${pointer}/${key.replaceAll('~', '~0').replaceAll('/', '~1')}`;
    if (value && typeof value === 'object' && !Array.isArray(value)) {
      checkSecrets(value as Record<string, unknown>, at);
    } else if (typeof value === 'string') {
      if ((SECRET_KEY.test(key) && !SECRET_REFERENCE.test(value)) || URL_WITH_PASSWORD.test(value) || PRIVATE_KEY_PEM.test(value)) {
        throw new TrellisError('TRELLIS_ERR_LITERAL_SECRET', { pointer: at }, { details: { pointer: at } });
      }
    } else if (SECRET_KEY.test(key) && value !== null && value !== undefined) {
      throw new TrellisError('TRELLIS_ERR_LITERAL_SECRET', { pointer: at }, { details: { pointer: at } });
    }
  }
}
