/**
 * A stream worker as its own process (the kill -9 fault test and the benchmark spawn it).
 * Configuration: the JSON in TRELLIS_STREAM_WORKER = { brokers, groupId, redisUrl, keyPrefix, job }.
 * Prints one JSON line per committed batch (`{"batch":…}`) and `{"ready":true}` once consuming; SIGTERM stops cleanly.
 */
import { createKafkaStreamProvider } from '../adapters/kafka/index.js';
import { createRedisTileStore } from '../adapters/redis/redis-tile-store.js';
import type { StreamJob } from '../src/streaming/stream-job.js';
import { StreamWorker } from '../src/streaming/stream-worker.js';

interface WorkerConfig {
  readonly brokers: string[];
  readonly groupId: string;
  readonly redisUrl: string;
  readonly keyPrefix: string;
  readonly job: StreamJob;
  readonly quiet?: boolean;
}

const config = JSON.parse(process.env.TRELLIS_STREAM_WORKER ?? 'null') as WorkerConfig | null;
if (!config) {
  console.error('TRELLIS_STREAM_WORKER is not set');
  process.exit(2);
}
const provider = await createKafkaStreamProvider({ brokers: config.brokers, clientId: `trellis-stream-worker-${process.pid}` });
const tiles = createRedisTileStore({ url: config.redisUrl, keyPrefix: config.keyPrefix });
const worker = new StreamWorker({
  job: config.job,
  provider,
  groupId: config.groupId,
  tileStoreFor: async () => tiles,
  onBatch: (info) => {
    if (!config.quiet) process.stdout.write(`${JSON.stringify({ batch: info })}\n`);
  },
  onCrash: (error) => {
    console.error(error);
    process.exit(1);
  },
});
await worker.start();
process.stdout.write(`${JSON.stringify({ ready: true })}\n`);
const stop = async () => {
  await worker.stop();
  await tiles.close();
  await provider.close();
  process.stdout.write(`${JSON.stringify({ stopped: worker.stats })}\n`);
  process.exit(0);
};
process.on('SIGTERM', () => void stop());
