import { watch, type FSWatcher } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import type { RateLimiter } from '../limiter.js';
import { loadConfig, type LoadOptions, type RateLimitConfig } from './load.js';
import { SyncState, syncPolicies, type SyncResult } from './sync.js';

export interface WatchOptions extends LoadOptions {
  /** The file to watch (default $RL_CONFIG_FILE): required. */
  file?: string;
  /** Quiet time after the last change before reloading (default 200 ms: editors write in bursts). */
  debounceMs?: number;
  /** After each successful sync (the first one included). */
  onChange?: (config: RateLimitConfig, result: SyncResult) => void;
  /** A change that could not be applied (bad file, server refused): the old policies stay. */
  onError?: (error: unknown) => void;
}

/**
 * Syncs the config's policies to the server now and every time the file changes. A change that
 * does not validate, or that the server refuses, is reported to onError and changes nothing:
 * the server keeps the last good set (in "replace" mode, RL.POLICY LOAD is atomic).
 */
export class ConfigWatcher {
  /** The configuration last applied. */
  current: RateLimitConfig | undefined;
  /** Settles after the first sync: rejects when the file is bad at start (fail the deploy). */
  readonly ready: Promise<RateLimitConfig>;
  private readonly state = new SyncState();
  private readonly fsw: FSWatcher;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> = Promise.resolve();
  private closed = false;

  constructor(
    private readonly targets: RateLimiter | RateLimiter[],
    private readonly opts: WatchOptions = {},
  ) {
    const file = opts.file ?? (opts.environ ?? process.env).RL_CONFIG_FILE;
    if (file === undefined || file === '') throw new TypeError('ConfigWatcher: give file (or set RL_CONFIG_FILE)');
    const path = resolve(file);
    this.opts = { ...opts, file: path };
    // The directory, not the file: editors and deploy tools replace a file by renaming over it,
    // which ends a watch on the old inode.
    this.fsw = watch(dirname(path), (_event, name) => {
      if (name === null || name === basename(path)) this.schedule();
    });
    this.fsw.on('error', (e) => this.opts.onError?.(e));
    this.ready = this.apply(true);
    this.ready.catch(() => undefined);
  }

  private schedule(): void {
    if (this.closed) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      // One reload at a time, in order.
      this.running = this.running.then(() => this.apply(false).then(() => undefined, () => undefined));
    }, this.opts.debounceMs ?? 200);
  }

  private async apply(first: boolean): Promise<RateLimitConfig> {
    try {
      const config = loadConfig(this.opts);
      const result = await syncPolicies(this.targets, config, this.state);
      this.current = config;
      this.opts.onChange?.(config, result);
      return config;
    } catch (e) {
      if (!first) this.opts.onError?.(e);
      throw e;
    }
  }

  /** Stops watching; an in-flight reload finishes. */
  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    this.fsw.close();
    await this.running;
  }
}

/** `new ConfigWatcher(...)`, awaiting the first sync. */
export async function watchConfig(targets: RateLimiter | RateLimiter[], opts: WatchOptions = {}): Promise<ConfigWatcher> {
  const w = new ConfigWatcher(targets, opts);
  try {
    await w.ready;
  } catch (e) {
    await w.close();
    throw e;
  }
  return w;
}
