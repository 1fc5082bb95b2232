/**
 * The conformance suites (`trellis/testkit`), run under vitest: each registers `describe` blocks that hold a store
 * built by your factory to the contract every built-in adapter meets.
 */
export { runOfflineStoreConformance, type OfflineStoreFactory, type OfflineStoreConformanceOptions } from './offline-store-conformance.js';
export { runOnlineStoreConformance, type OnlineStoreFactory, type OnlineStoreConformanceOptions } from './online-store-conformance.js';
export { runTileStoreConformance, type TileStoreFactory, type TileStoreConformanceOptions } from './tile-store-conformance.js';
export { runStreamProviderConformance, type StreamProviderFactory, type StreamProviderConformanceOptions } from './stream-provider-conformance.js';
