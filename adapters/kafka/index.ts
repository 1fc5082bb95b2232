export { KafkaStreamProvider, createKafkaStreamProvider } from './kafka-stream-provider.js';
export { parseKafkaConfig, validateKafkaConfig, type KafkaProviderConfig } from './kafka-config.js';
