export { EmbeddedOnlineStore, createEmbeddedOnlineStore, type EmbeddedOnlineStoreOptions } from './embedded-online-store.js';
export type { FsyncPolicy, LogRecovery } from './append-log.js';
