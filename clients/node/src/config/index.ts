// redis-ratelimit/config: per-environment configuration validated with zod (an optional peer
// dependency: install zod 4 to use this entry point), and the server policies kept in sync with it.
export { loadConfig, parseConfigText, ConfigError, ENV_VARS } from './load.js';
export type { ConfigIssue, LoadOptions, RateLimitConfig } from './load.js';
export { syncPolicies, SyncState } from './sync.js';
export type { SyncResult } from './sync.js';
export { ConfigWatcher, watchConfig } from './watch.js';
export type { WatchOptions } from './watch.js';
export type { PolicyConfig } from './schema.js';
