import { Value } from '@sinclair/typebox/value';
import { TrellisError } from '../errors/trellis-error.js';
import { ConfigSchema, envBindings, type TrellisConfig } from './config-schema.js';

type Plain = Record<string, unknown>;

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}

function fromEnv(env: NodeJS.ProcessEnv): Plain {
  const out: Plain = {};
  for (const [name, path] of Object.entries(envBindings)) {
    const raw = env[name];
    if (raw === undefined || raw === '') continue;
    let target = out;
    for (const key of path.slice(0, -1)) target = (target[key] ??= {}) as Plain;
    // The one list-valued variable (TRELLIS_ADAPTERS) is comma-separated.
    target[path[path.length - 1]!] = name === 'TRELLIS_ADAPTERS' ? raw.split(',').map((s) => s.trim()).filter(Boolean) : raw;
  }
  return out;
}

function merge(base: Plain, over: Plain): Plain {
  const out: Plain = { ...base };
  for (const [k, v] of Object.entries(over)) {
    out[k] = v && typeof v === 'object' && !Array.isArray(v) && out[k] && typeof out[k] === 'object'
      ? merge(out[k] as Plain, v as Plain)
      : v;
  }
  return out;
}

/**
 * Builds the frozen configuration: schema defaults, then environment variables, then explicit overrides.
 * Fails with one TRELLIS_ERR_CONFIG_INVALID naming the first bad key.
 */
export function loadConfig(overrides: Partial<Plain> = {}, env: NodeJS.ProcessEnv = process.env): TrellisConfig {
  const raw = merge(fromEnv(env), overrides as Plain);
  const converted = Value.Convert(ConfigSchema, Value.Default(ConfigSchema, structuredClone(raw)));
  const first = Value.Errors(ConfigSchema, converted).First();
  if (first) {
    const key = first.path.replace(/^\//, '').replaceAll('/', '.') || '(root)';
    throw new TrellisError('TRELLIS_ERR_CONFIG_INVALID', { key, reason: first.message }, { details: { key } });
  }
  return deepFreeze(converted as TrellisConfig);
}
