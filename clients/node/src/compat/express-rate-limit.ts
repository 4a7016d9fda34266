import type { Algorithm } from '../limit.js';
import type { RateLimiter } from '../limiter.js';

export interface ExpressRateLimitStoreOptions {
  /** Key prefix (default "rl:erl:"). */
  prefix?: string;
  /** Default FIXED_WINDOW (windowMs, aligned to the epoch); any algorithm but CALENDAR works. */
  algorithm?: Exclude<Algorithm, 'CALENDAR'>;
}

/** express-rate-limit's ClientRateLimitInfo. */
export interface ClientRateLimitInfo {
  totalHits: number;
  resetTime: Date | undefined;
}

// express-rate-limit's `limit` may be a function of the request, which a store never sees: then the
// store only counts (the server never denies) and express-rate-limit compares, as with its memory store.
const COUNT_ONLY = Number.MAX_SAFE_INTEGER;

/**
 * A Store for express-rate-limit 7/8 backed by the module: `rateLimit({ store: new
 * ExpressRateLimitStore(limiter), windowMs, limit })`. With a numeric `limit` the server decides
 * (a denied request is not counted); `decrement` (skipSuccessfulRequests / skipFailedRequests) is a
 * refund. Differences from the memory store are listed in docs/clients/node.md.
 */
export class ExpressRateLimitStore {
  readonly prefix: string;
  /** The keys live in Redis, shared by every process. */
  readonly localKeys = false;
  private readonly algorithm: Exclude<Algorithm, 'CALENDAR'>;
  private windowMs = 60_000;
  private limit: number | undefined;

  constructor(
    private readonly limiter: RateLimiter,
    opts: ExpressRateLimitStoreOptions = {},
  ) {
    this.prefix = opts.prefix ?? 'rl:erl:';
    this.algorithm = opts.algorithm ?? 'FIXED_WINDOW';
  }

  /** Called by express-rate-limit with its options. */
  init(options: { windowMs: number; limit?: unknown; max?: unknown }): void {
    this.windowMs = options.windowMs;
    const limit = options.limit ?? options.max;
    this.limit = typeof limit === 'number' && Number.isSafeInteger(limit) && limit >= 1 ? limit : undefined;
  }

  async increment(key: string): Promise<ClientRateLimitInfo> {
    const d = await this.limiter.check(this.prefix + key, this.spec());
    const totalHits = d.allowed ? d.limit - d.remaining : (this.limit ?? d.limit) + 1;
    const wait = d.allowed || d.retryAfterMs < 0 ? d.resetAfterMs : d.retryAfterMs;
    return { totalHits, resetTime: new Date(Date.now() + wait) };
  }

  async decrement(key: string): Promise<void> {
    await this.limiter.refund(this.prefix + key, 1);
  }

  async resetKey(key: string): Promise<void> {
    await this.limiter.reset(this.prefix + key);
  }

  async get(key: string): Promise<ClientRateLimitInfo | undefined> {
    const i = await this.limiter.inspect(this.prefix + key);
    if (i === null) return undefined;
    return { totalHits: i.limit - i.remaining, resetTime: new Date(Date.now() + i.resetAfterMs) };
  }

  private spec(): { algorithm: Algorithm; limit: number; period: number } {
    return { algorithm: this.algorithm, limit: this.limit ?? COUNT_ONLY, period: this.windowMs };
  }
}
