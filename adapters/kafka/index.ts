export { KafkaStreamProvider, createKafkaStreamProvider } from './kafka-stream-provider.js';
export { parseKafkaConfig, type KafkaProviderConfig } from './kafka-config.js';
