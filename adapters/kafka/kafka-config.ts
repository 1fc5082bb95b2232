import { ProviderConfigError, isSecretReference } from '../../src/spi/adapter-registration.js';

/**
 * The kafka provider's config: `{ brokers, clientId?, ssl?, sasl?, connectionTimeoutMs?, requestTimeoutMs?, schemaRegistry? }`.
 * `schemaRegistry { url, username?, password?, timeoutMs? }`: the Confluent-compatible schema registry that sources with
 * `format: avro` read their schemas from (src/streaming/avro-schema-registry.ts).
 * Secrets (`sasl.password`, `ssl.key`, `schemaRegistry.password`) arrive resolved: the registry stores them as `env:NAME` / `file:/path`
 * references and the caller resolves them before calling the factory. Options, TLS/SASL set-ups and how failures
 * are reported: README.md in this directory.
 *
 * @example
 * ```yaml
 * kind: provider
 * name: events
 * type: kafka
 * roles: [stream]
 * config:
 *   brokers: [broker-1:9093, broker-2:9093]
 *   ssl: true
 *   sasl: { mechanism: scram-sha-512, username: trellis, password: env:KAFKA_PASSWORD }
 * ```
 */
export interface KafkaProviderConfig {
  readonly brokers: readonly string[];
  readonly clientId: string;
  readonly ssl?: boolean | { readonly ca?: string; readonly cert?: string; readonly key?: string; readonly rejectUnauthorized?: boolean };
  readonly sasl?: { readonly mechanism: 'plain' | 'scram-sha-256' | 'scram-sha-512'; readonly username: string; readonly password: string };
  readonly connectionTimeoutMs: number;
  readonly requestTimeoutMs: number;
  readonly schemaRegistry?: { readonly url: string; readonly username?: string; readonly password?: string; readonly timeoutMs: number };
}

const KEYS = ['brokers', 'clientId', 'ssl', 'sasl', 'connectionTimeoutMs', 'requestTimeoutMs', 'schemaRegistry'];

/** A {@link ProviderConfigError} at `key` (dotted), with the message the stream provider reports when it cannot be built. */
const fail = (key: string, reason: string): never => {
  throw new ProviderConfigError(`/${key.split('.').join('/')}`, reason, `kafka provider config ${key}: ${reason}`);
};

/**
 * The apply-time check (AdapterRegistration.validateConfig): the config as written, secret references unresolved.
 * A reference stands for any string, so only what it cannot fix is refused: unknown keys, wrong types, bad literals.
 */
export function validateKafkaConfig(raw: Readonly<Record<string, unknown>>): void {
  const unknown = Object.keys(raw).find((k) => !KEYS.includes(k));
  if (unknown !== undefined) fail(unknown, `unknown key; expected one of ${KEYS.join(', ')}`);
  parseKafkaConfig(raw, { asWritten: true });
}

/**
 * Validates a resolved provider config and fills defaults; throws a {@link ProviderConfigError} naming the bad key.
 * `asWritten`: secret references are not resolved yet, so a reference passes any check of a string's content.
 */
export function parseKafkaConfig(raw: Readonly<Record<string, unknown>>, options: { readonly asWritten?: boolean } = {}): KafkaProviderConfig {
  const opaque = (value: unknown) => options.asWritten === true && isSecretReference(value);
  const brokers = opaque(raw.brokers) ? ['reference:0'] : typeof raw.brokers === 'string' ? raw.brokers.split(',').map((b) => b.trim()).filter(Boolean) : raw.brokers;
  if (!Array.isArray(brokers) || brokers.length === 0 || !brokers.every((b) => opaque(b) || (typeof b === 'string' && /^[^\s:]+:\d+$/.test(b)))) {
    fail('brokers', 'expected a non-empty list of host:port');
  }
  const clientId = raw.clientId ?? 'trellis';
  if (typeof clientId !== 'string' || clientId.length === 0) fail('clientId', 'expected a string');
  let ssl: KafkaProviderConfig['ssl'];
  if (raw.ssl !== undefined) {
    if (typeof raw.ssl === 'boolean') ssl = raw.ssl;
    else if (raw.ssl && typeof raw.ssl === 'object') {
      const s = raw.ssl as Record<string, unknown>;
      for (const k of ['ca', 'cert', 'key'] as const) if (s[k] !== undefined && typeof s[k] !== 'string') fail(`ssl.${k}`, 'expected PEM text');
      ssl = { ...(s as object), rejectUnauthorized: s.rejectUnauthorized !== false } as KafkaProviderConfig['ssl'];
    } else fail('ssl', 'expected true/false or { ca, cert, key, rejectUnauthorized }');
  }
  let sasl: KafkaProviderConfig['sasl'];
  if (raw.sasl !== undefined) {
    const s = raw.sasl as Record<string, unknown> | null;
    if (!s || typeof s !== 'object') fail('sasl', 'expected { mechanism, username, password }');
    const mechanism = s!.mechanism;
    if (mechanism !== 'plain' && mechanism !== 'scram-sha-256' && mechanism !== 'scram-sha-512' && !opaque(mechanism)) fail('sasl.mechanism', 'expected plain, scram-sha-256 or scram-sha-512');
    if (typeof s!.username !== 'string') fail('sasl.username', 'expected a string');
    if (typeof s!.password !== 'string') fail('sasl.password', 'expected a (resolved) string');
    sasl = { mechanism: mechanism as 'plain', username: s!.username as string, password: s!.password as string };
  }
  const ms = (key: string, fallback: number): number => {
    const v = raw[key] ?? fallback;
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v <= 0) fail(key, 'expected a positive integer of ms');
    return v as number;
  };
  let schemaRegistry: KafkaProviderConfig['schemaRegistry'];
  if (raw.schemaRegistry !== undefined) {
    const r = raw.schemaRegistry as Record<string, unknown> | null;
    if (!r || typeof r !== 'object' || Array.isArray(r)) fail('schemaRegistry', 'expected { url, username?, password?, timeoutMs? }');
    if (typeof r!.url !== 'string' || !(opaque(r!.url) || /^https?:\/\/[^\s/]+/.test(r!.url))) fail('schemaRegistry.url', 'expected an http(s) URL');
    if ((r!.username === undefined) !== (r!.password === undefined)) fail('schemaRegistry.username', 'give username and password together (basic auth)');
    if (r!.username !== undefined && typeof r!.username !== 'string') fail('schemaRegistry.username', 'expected a string');
    if (r!.password !== undefined && typeof r!.password !== 'string') fail('schemaRegistry.password', 'expected a (resolved) string');
    const timeoutMs = r!.timeoutMs ?? 5000;
    if (typeof timeoutMs !== 'number' || !Number.isSafeInteger(timeoutMs) || timeoutMs <= 0) fail('schemaRegistry.timeoutMs', 'expected a positive integer of ms');
    schemaRegistry = Object.freeze({ url: r!.url as string, ...(r!.username !== undefined ? { username: r!.username as string, password: r!.password as string } : {}), timeoutMs: timeoutMs as number });
  }
  return Object.freeze({
    brokers: Object.freeze([...(brokers as string[])]),
    clientId: clientId as string,
    ...(ssl !== undefined ? { ssl } : {}),
    ...(sasl !== undefined ? { sasl } : {}),
    connectionTimeoutMs: ms('connectionTimeoutMs', 3000),
    requestTimeoutMs: ms('requestTimeoutMs', 30_000),
    ...(schemaRegistry !== undefined ? { schemaRegistry } : {}),
  });
}
