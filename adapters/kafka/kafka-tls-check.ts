import { isIP } from 'node:net';
import { connect, type ConnectionOptions } from 'node:tls';
import type { KafkaProviderConfig } from './kafka-config.js';

const NOT_TLS = 'the listener does not speak TLS: drop ssl, or use the port of an SSL/SASL_SSL listener';

/** Why a TLS handshake failed, as far as a retry cannot fix it. */
const hints: readonly (readonly [RegExp, string])[] = [
  [/SELF_SIGNED|UNABLE_TO_GET_ISSUER|UNABLE_TO_VERIFY_LEAF|CERT_UNTRUSTED|CERT_SIGNATURE_FAILURE/, "the broker's certificate is not signed by a CA this client trusts: set ssl.ca to the PEM of the CA that signed it"],
  [/ALTNAME|HOSTNAME/, "the broker's certificate does not name the host in brokers"],
  [/CERT_HAS_EXPIRED|CERT_NOT_YET_VALID/, "the broker's certificate is outside its validity period"],
  [/BAD_CERTIFICATE|CERTIFICATE_REQUIRED|UNKNOWN_CA|HANDSHAKE_FAILURE/, 'the broker refused the client: it may require a client certificate (ssl.cert and ssl.key) signed by a CA it trusts'],
  [/ECONNRESET|WRONG_VERSION_NUMBER|socket disconnected/i, NOT_TLS],
];

/** A Kafka ApiVersions v0 request (any listener answers it before authentication): size, key 18, version 0, correlation id 1, client id. */
const API_VERSIONS_REQUEST = (() => {
  const clientId = Buffer.from('trellis-tls-check');
  const body = Buffer.alloc(10 + clientId.length);
  body.writeInt16BE(18, 0);
  body.writeInt16BE(0, 2);
  body.writeInt32BE(1, 4);
  body.writeInt16BE(clientId.length, 8);
  clientId.copy(body, 10);
  const size = Buffer.alloc(4);
  size.writeInt32BE(body.length);
  return Buffer.concat([size, body]);
})();

/** The outcome of one handshake: `ok`, `unreachable` (no TCP connection: left to the client's retries), or a TLS failure. */
type HandshakeOutcome = { readonly kind: 'ok' } | { readonly kind: 'unreachable' } | { readonly kind: 'tls'; readonly broker: string; readonly reason: string };

/** `80FC…:error:0A000412:SSL routines:ssl3_read_bytes:sslv3 alert bad certificate:../deps/….c:1601:SSL alert number 42` → `sslv3 alert bad certificate`. */
const opensslMessage = (message: string): string => message.split('\n')[0]!.replace(/^[0-9A-F]+:error:[0-9A-F]+:SSL routines:[^:]*:/, '').replace(/:\.\.?\/.*$/, '');

function handshake(broker: string, options: ConnectionOptions, timeoutMs: number): Promise<HandshakeOutcome> {
  const colon = broker.lastIndexOf(':');
  const host = broker.slice(0, colon);
  return new Promise((resolve) => {
    let connected = false;
    let secured = false;
    const socket = connect({ ...options, host, port: Number(broker.slice(colon + 1)), ...(isIP(host) ? {} : { servername: host }) });
    const done = (outcome: HandshakeOutcome) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(outcome);
    };
    const timer = setTimeout(() => done(connected ? { kind: 'tls', broker, reason: `no TLS handshake within ${timeoutMs} ms (${NOT_TLS})` } : { kind: 'unreachable' }), timeoutMs);
    socket.once('connect', () => (connected = true));
    // TLS 1.3 completes the client's handshake before the broker checks the client certificate: only an answer to
    // a first request shows that the broker accepted this client.
    socket.once('secureConnect', () => {
      secured = true;
      socket.write(API_VERSIONS_REQUEST);
    });
    socket.once('data', () => done({ kind: 'ok' }));
    socket.once('end', () => done({ kind: 'tls', broker, reason: secured ? 'the broker closed the connection after the TLS handshake' : `the broker closed the connection during the TLS handshake: ${NOT_TLS}` }));
    socket.once('error', (error: NodeJS.ErrnoException) => {
      if (!connected) return done({ kind: 'unreachable' });
      const code = error.code ?? '';
      const hint = hints.find(([pattern]) => pattern.test(code) || pattern.test(error.message))?.[1];
      done({ kind: 'tls', broker, reason: `${opensslMessage(error.message)}${code ? ` (${code})` : ''}${hint ? `: ${hint}` : ''}` });
    });
  });
}

/**
 * Checks the TLS handshake with the seed brokers (and one ApiVersions round trip) once before the Kafka client
 * connects. A certificate the client
 * does not trust, a client certificate the broker refuses, or a plaintext listener fail here at once with the
 * reason and what to change, where kafkajs would retry the connection for ~10 s and report `Connection error`.
 * Brokers that do not accept TCP connections are left to the client (it retries: the broker may be restarting).
 * Resolves when one broker completes a handshake, or none is reachable; else rejects with the first TLS failure.
 */
export async function checkKafkaTls(config: KafkaProviderConfig): Promise<void> {
  if (config.ssl === undefined || config.ssl === false) return;
  const options: ConnectionOptions = config.ssl === true ? {} : { ...config.ssl };
  const outcomes = await Promise.all(config.brokers.map((b) => handshake(b, options, config.connectionTimeoutMs)));
  if (outcomes.some((o) => o.kind === 'ok')) return;
  const failure = outcomes.find((o): o is Extract<HandshakeOutcome, { kind: 'tls' }> => o.kind === 'tls');
  if (failure) throw new Error(`TLS handshake with broker ${failure.broker} failed: ${failure.reason}`);
}
