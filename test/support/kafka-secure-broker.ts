/**
 * Test helper: a private single-node KRaft Kafka broker with secured listeners, started by the test itself (the
 * shared broker of scripts/services/kafka.sh on 59092 has a plaintext listener only and is left alone).
 *
 * - `SASL_SSL`: TLS with a CA made at start-up, SASL mechanisms SCRAM-SHA-512, SCRAM-SHA-256 and PLAIN;
 * - `SASL_PLAINTEXT`: the same mechanisms without TLS;
 * - `SSL`: TLS with client certificates required (mutual TLS), no SASL;
 * - an internal plaintext listener for the broker itself (inter-broker) and the KRaft controller listener.
 *
 * The TLS material (a CA, the broker's PKCS12 keystore with an IP SAN for 127.0.0.1, a client certificate, and a
 * second CA nobody trusts) is generated with `openssl` into a temp directory; the SCRAM credentials are written at
 * storage-format time (`--add-scram`), the PLAIN ones are in the listener's JAAS config. Jars and classpath come
 * from scripts/services/kafka-jars.sh (the cache the shared broker uses), the single-node settings from
 * scripts/services/kafka-single-node.properties. {@link startSecureKafkaBroker} is
 * idempotent within a process (a second call returns the same broker until it is disposed); a broker that cannot
 * start fails with its log tail (never a skip), its directory kept. Only the process started here is ever stopped, by its own pid; it is also killed
 * when the test process exits.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, openSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import kafkajs from 'kafkajs';
import type { Kafka, KafkaConfig } from 'kafkajs';
import { sparePort } from '../unit/online/redis-server-process.js';

const run = promisify(execFile);
const jarsScript = fileURLToPath(new URL('../../scripts/services/kafka-jars.sh', import.meta.url));
const singleNodeProperties = fileURLToPath(new URL('../../scripts/services/kafka-single-node.properties', import.meta.url));
const START_TIMEOUT_MS = Number(process.env.TRELLIS_KAFKA_START_TIMEOUT ?? 180) * 1000;

export interface SecureKafkaBroker {
  /** `127.0.0.1:port` of each secured listener. */
  readonly saslSsl: string;
  readonly saslPlaintext: string;
  readonly mtls: string;
  /** A user known to every SASL mechanism (SCRAM-SHA-512/256 and PLAIN). */
  readonly username: string;
  readonly password: string;
  /** PEM files: the CA that signed the broker, a CA that did not, and a client certificate/key signed by the CA. */
  readonly caFile: string;
  /** The text of caFile. */
  readonly caPem: string;
  readonly otherCaFile: string;
  readonly clientCertFile: string;
  readonly clientKeyFile: string;
  readonly dir: string;
  /** A kafkajs client of the test (not the product's) over SASL_SSL with SCRAM-SHA-512. */
  client(clientId?: string): Kafka;
  /** Creates a topic with a random suffix over SASL_SSL. */
  createTopic(name: string, partitions?: number): Promise<string>;
  /** The last lines of the broker log. */
  logTail(lines?: number): Promise<string>;
  /** Stops the broker (SIGTERM, then SIGKILL) and removes its directory. */
  dispose(): Promise<void>;
}

let current: Promise<SecureKafkaBroker> | undefined;

/** Starts the secured broker, or returns the one this process already started. */
export function startSecureKafkaBroker(): Promise<SecureKafkaBroker> {
  // The spare ports are free when chosen; if another process took one before the broker bound it, start again.
  current ??= start().catch((error: Error) => (/BindException|Address already in use/.test(error.message) ? start() : Promise.reject(error)));
  current.catch(() => (current = undefined));
  return current;
}

async function ports(count: number): Promise<number[]> {
  const chosen = new Set<number>();
  while (chosen.size < count) chosen.add(await sparePort());
  return [...chosen];
}

async function generateTls(dir: string, keystorePassword: string): Promise<void> {
  const openssl = async (...args: string[]) => {
    try {
      await run('openssl', args, { cwd: dir });
    } catch (error) {
      throw new Error(`openssl ${args[0]} failed: ${(error as { stderr?: string }).stderr ?? (error as Error).message}`);
    }
  };
  const days = ['-days', '2'];
  for (const ca of ['ca', 'other-ca']) {
    await openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${ca}.key`, '-out', `${ca}.pem`, ...days, '-subj', `/CN=Trellis test ${ca}`);
  }
  const sign = async (name: string, subject: string, extensions: string) => {
    await openssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', subject);
    await writeFile(join(dir, `${name}.ext`), extensions);
    await openssl('x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${name}.pem`, ...days, '-extfile', `${name}.ext`);
  };
  await sign('broker', '/CN=127.0.0.1', 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n');
  await sign('client', '/CN=trellis-client', 'extendedKeyUsage=clientAuth\n');
  await openssl('pkcs12', '-export', '-in', 'broker.pem', '-inkey', 'broker.key', '-certfile', 'ca.pem', '-name', 'broker', '-out', 'broker.p12', '-passout', `pass:${keystorePassword}`);
}

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

async function start(): Promise<SecureKafkaBroker> {
  const lib = await run('bash', [jarsScript], { maxBuffer: 1 << 20 }).then(
    (r) => r.stdout.trim(),
    (error: { stderr?: string; message: string }) => {
      throw new Error(`the Kafka jars are not available (scripts/services/kafka-jars.sh): ${error.stderr ?? error.message}`);
    },
  );
  const dir = await mkdtemp(join(tmpdir(), 'trellis-kafka-secure-'));
  const [saslSslPort, saslPlainPort, mtlsPort, internalPort, controllerPort] = await ports(5);
  const username = 'trellis';
  const password = randomBytes(12).toString('hex');
  const storePassword = randomBytes(12).toString('hex');
  await generateTls(dir, storePassword);
  const caPem = await readFile(join(dir, 'ca.pem'), 'utf8');

  const jaasScram = 'org.apache.kafka.common.security.scram.ScramLoginModule required;';
  const jaasPlain = `org.apache.kafka.common.security.plain.PlainLoginModule required user_${username}="${password}";`;
  const saslListener = (name: string) =>
    [
      `listener.name.${name}.sasl.enabled.mechanisms=SCRAM-SHA-512,SCRAM-SHA-256,PLAIN`,
      `listener.name.${name}.scram-sha-512.sasl.jaas.config=${jaasScram}`,
      `listener.name.${name}.scram-sha-256.sasl.jaas.config=${jaasScram}`,
      `listener.name.${name}.plain.sasl.jaas.config=${jaasPlain}`,
    ].join('\n');
  const properties = `process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:${controllerPort}
listeners=SASL_SSL://127.0.0.1:${saslSslPort},SASL_PLAINTEXT://127.0.0.1:${saslPlainPort},SSL://127.0.0.1:${mtlsPort},INTERNAL://127.0.0.1:${internalPort},CONTROLLER://127.0.0.1:${controllerPort}
advertised.listeners=SASL_SSL://127.0.0.1:${saslSslPort},SASL_PLAINTEXT://127.0.0.1:${saslPlainPort},SSL://127.0.0.1:${mtlsPort},INTERNAL://127.0.0.1:${internalPort}
controller.listener.names=CONTROLLER
inter.broker.listener.name=INTERNAL
listener.security.protocol.map=SASL_SSL:SASL_SSL,SASL_PLAINTEXT:SASL_PLAINTEXT,SSL:SSL,INTERNAL:PLAINTEXT,CONTROLLER:PLAINTEXT
sasl.enabled.mechanisms=SCRAM-SHA-512,SCRAM-SHA-256,PLAIN
${saslListener('sasl_ssl')}
${saslListener('sasl_plaintext')}
ssl.keystore.type=PKCS12
ssl.keystore.location=${join(dir, 'broker.p12')}
ssl.keystore.password=${storePassword}
ssl.key.password=${storePassword}
ssl.truststore.type=PEM
ssl.truststore.location=${join(dir, 'ca.pem')}
listener.name.ssl.ssl.client.auth=required
log.dirs=${join(dir, 'data')}
${await readFile(singleNodeProperties, 'utf8')}
auto.create.topics.enable=false
`;
  await writeFile(join(dir, 'server.properties'), properties);
  await writeFile(
    join(dir, 'log4j2.properties'),
    'status = warn\nappender.out.type = Console\nappender.out.name = STDOUT\nappender.out.layout.type = PatternLayout\n' +
      'appender.out.layout.pattern = [%d] %p %m (%c)%n\nrootLogger.level = INFO\nrootLogger.appenderRef.out.ref = STDOUT\n',
  );
  const java = ['-Xms128m', '-Xmx384m', '-XX:+UseG1GC', '-Djava.awt.headless=true', `-Dlog4j2.configurationFile=${join(dir, 'log4j2.properties')}`, '-cp', `${lib}/*`];
  const clusterId = randomBytes(16).toString('base64url');
  await run('java', [
    ...java, 'kafka.tools.StorageTool', 'format', '-t', clusterId, '-c', join(dir, 'server.properties'),
    '--add-scram', `SCRAM-SHA-512=[name=${username},password=${password}]`,
    '--add-scram', `SCRAM-SHA-256=[name=${username},password=${password}]`,
  ]).catch((error: { stdout?: string; stderr?: string; message: string }) => {
    throw new Error(`kafka storage format failed: ${[error.stdout, error.stderr].filter(Boolean).join('\n') || error.message}`);
  });

  const logFile = join(dir, 'kafka.log');
  const fd = openSync(logFile, 'a');
  const child: ChildProcess = spawn('java', [...java, 'kafka.Kafka', join(dir, 'server.properties')], { stdio: ['ignore', fd, fd] });
  closeSync(fd);
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  let exited: string | undefined;
  child.once('exit', (code, signal) => (exited = `exited with ${signal ?? `code ${code}`}`));

  const logTail = async (lines = 60) => (await readFile(logFile, 'utf8').catch(() => '(no log)')).split('\n').slice(-lines - 1).join('\n');
  const stop = async () => {
    process.removeListener('exit', killOnExit);
    if (child.exitCode !== null || child.signalCode !== null) return;
    const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await gone;
    clearTimeout(timer);
  };
  const clientConfig = (clientId: string): KafkaConfig => ({
    clientId,
    brokers: [`127.0.0.1:${saslSslPort}`],
    ssl: { ca: [caPem] },
    sasl: { mechanism: 'scram-sha-512', username, password },
    logLevel: kafkajs.logLevel.NOTHING,
    connectionTimeout: 5000,
  });

  const broker: SecureKafkaBroker = {
    saslSsl: `127.0.0.1:${saslSslPort}`,
    saslPlaintext: `127.0.0.1:${saslPlainPort}`,
    mtls: `127.0.0.1:${mtlsPort}`,
    username,
    password,
    caFile: join(dir, 'ca.pem'),
    caPem,
    otherCaFile: join(dir, 'other-ca.pem'),
    clientCertFile: join(dir, 'client.pem'),
    clientKeyFile: join(dir, 'client.key'),
    dir,
    client: (clientId = `trellis-test-${randomBytes(3).toString('hex')}`) => new kafkajs.Kafka(clientConfig(clientId)),
    async createTopic(name, partitions = 1) {
      const topic = `${name}-${randomBytes(5).toString('hex')}`;
      const admin = broker.client('trellis-test-admin').admin();
      await admin.connect();
      try {
        await admin.createTopics({ topics: [{ topic, numPartitions: partitions, replicationFactor: 1 }], waitForLeaders: true, timeout: 30_000 });
      } finally {
        await admin.disconnect();
      }
      return topic;
    },
    logTail,
    async dispose() {
      if (current !== undefined && (await current.catch(() => undefined)) === broker) current = undefined;
      await stop();
      await rm(dir, { recursive: true, force: true });
    },
  };

  // Ready = every listener accepts connections and a SCRAM-SHA-512 admin over TLS lists the topics.
  const deadline = Date.now() + START_TIMEOUT_MS;
  const fail = async (reason: string): Promise<never> => {
    const tail = await logTail();
    await stop();
    // The directory stays for inspection (the full log, the config).
    throw new Error(`the secured Kafka broker (${dir}) ${reason}\n---- last lines of ${logFile} ----\n${tail}`);
  };
  for (;;) {
    if (exited) await fail(`${exited} during start-up`);
    const open = await Promise.all([saslSslPort, saslPlainPort, mtlsPort].map((p) => portOpen(p!)));
    if (open.every(Boolean)) break;
    if (Date.now() > deadline) await fail(`is not listening after ${START_TIMEOUT_MS / 1000}s`);
    await new Promise((r) => setTimeout(r, 250));
  }
  const admin = broker.client('trellis-test-ready').admin();
  try {
    await admin.connect();
    await admin.listTopics();
  } catch (error) {
    await fail(`listens but a SASL_SSL client cannot use it: ${(error as Error).message}`);
  } finally {
    await admin.disconnect().catch(() => {});
  }
  return broker;
}
