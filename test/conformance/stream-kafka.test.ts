import { createKafkaStreamProvider } from '../../adapters/kafka/kafka-stream-provider.js';
import { runStreamProviderConformance } from '../../src/spi/testkit/stream-provider-conformance.js';
import { deleteKafkaTopics, kafkaBrokers, kafkaClient } from '../support/services.js';

// Topics and groups made by the suite are removed at the end (the broker is shared by parallel test files).
runStreamProviderConformance('kafka', () => createKafkaStreamProvider({ brokers: kafkaBrokers() }), {
  topicPrefix: 'trellis-conf-kafka',
  cleanup: async ({ topics, groups }) => {
    await deleteKafkaTopics(...topics);
    const admin = kafkaClient('trellis-test-admin').admin();
    await admin.connect();
    try {
      // Only the groups the broker knows (a group that never had a member was never created).
      const known = new Set((await admin.listGroups()).groups.map((g) => g.groupId));
      const made = groups.filter((g) => known.has(g));
      if (made.length > 0) await admin.deleteGroups(made);
    } finally {
      await admin.disconnect();
    }
  },
});
