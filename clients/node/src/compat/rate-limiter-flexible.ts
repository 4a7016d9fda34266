import { ArgumentError } from '../errors.js';
import type { Algorithm } from '../limit.js';
import { RateLimiter, type OnUnavailable } from '../limiter.js';
import type { Decision } from '../reply.js';
import type { RedisLike } from '../transport.js';

/** rate-limiter-flexible's result: resolved on success, rejected with when limited. */
export class RateLimiterRes {
  constructor(
    public remainingPoints = 0,
    public msBeforeNext = 0,
    public consumedPoints = 0,
    public isFirstInDuration = false,
  ) {}

  toJSON(): Record<string, number | boolean> {
    return {
      remainingPoints: this.remainingPoints,
      msBeforeNext: this.msBeforeNext,
      consumedPoints: this.consumedPoints,
      isFirstInDuration: this.isFirstInDuration,
    };
  }

  toString(): string {
    return JSON.stringify(this.toJSON());
  }
}

export interface RateLimiterRLOptions {
  /** The application's node-redis or ioredis client (or cluster); or pass `limiter`. */
  storeClient?: RedisLike;
  /** An existing RateLimiter (its timeout, breaker, policy and metrics apply). */
  limiter?: RateLimiter;
  /** Points per duration (default 4). */
  points?: number;
  /** Seconds (default 1); 0 (never expire) is not supported. */
  duration?: number;
  /** Seconds a key is blocked after a rejected consume (default 0: none); the server's BLOCK. */
  blockDuration?: number;
  /** Default "rlflx"; keys are `${keyPrefix}:${key}`. */
  keyPrefix?: string;
  /** Default FIXED_WINDOW (aligned to the epoch; see the migration notes). */
  algorithm?: Exclude<Algorithm, 'CALENDAR'>;
  /** With storeClient: ms per call (default 50, like RateLimiter). */
  timeout?: number;
  /** With storeClient: default "throw", so a store error rejects with an Error as in rate-limiter-flexible. */
  onUnavailable?: OnUnavailable;
}

const positiveInt = (v: number, what: string, min: number): number => {
  if (!Number.isSafeInteger(v) || v < min) throw new ArgumentError(`${what}: expected an integer >= ${min}`);
  return v;
};

/**
 * rate-limiter-flexible's interface over the module: code written for RateLimiterRedis switches by
 * changing the class. consume/penalty/reward/get/set/block/delete; see docs/clients/node.md for what differs.
 */
export class RateLimiterRL {
  readonly points: number;
  readonly duration: number;
  readonly blockDuration: number;
  readonly keyPrefix: string;
  readonly limiter: RateLimiter;
  private readonly algorithm: Exclude<Algorithm, 'CALENDAR'>;

  constructor(opts: RateLimiterRLOptions) {
    this.points = positiveInt(opts.points ?? 4, 'points', 1);
    this.duration = positiveInt(opts.duration ?? 1, 'duration', 1);
    this.blockDuration = positiveInt(opts.blockDuration ?? 0, 'blockDuration', 0);
    this.keyPrefix = opts.keyPrefix ?? 'rlflx';
    this.algorithm = opts.algorithm ?? 'FIXED_WINDOW';
    if (opts.limiter !== undefined) this.limiter = opts.limiter;
    else if (opts.storeClient !== undefined) {
      this.limiter = new RateLimiter(opts.storeClient, {
        timeout: opts.timeout,
        onUnavailable: opts.onUnavailable ?? 'throw',
      });
    } else throw new ArgumentError('storeClient: expected a Redis client (or pass limiter)');
  }

  getKey(key: string | number): string {
    return this.keyPrefix === '' ? String(key) : `${this.keyPrefix}:${String(key)}`;
  }

  parseKey(rlKey: string): string {
    return this.keyPrefix === '' ? rlKey : rlKey.slice(this.keyPrefix.length + 1);
  }

  /** Takes `points`; resolves with the result, or rejects with it when limited (an Error when the store fails). */
  async consume(key: string | number, points = 1): Promise<RateLimiterRes> {
    const cost = positiveInt(points, 'points', 1);
    const block = this.blockDuration > 0 ? this.blockDuration * 1000 : undefined;
    const d = await this.limiter.check(this.getKey(key), { ...this.spec(), cost, block });
    const res = this.res(d, cost);
    // rate-limiter-flexible rejects with the result, not an Error: callers test `instanceof Error`.
    // eslint-disable-next-line @typescript-eslint/only-throw-error
    if (!d.allowed) throw res;
    return res;
  }

  /** Charges up to `points` without ever rejecting (what is left of the window; never beyond). */
  async penalty(key: string | number, points = 1): Promise<RateLimiterRes> {
    const k = this.getKey(key);
    const left = (await this.limiter.peek(k, { ...this.spec(), cost: 0 })).remaining;
    const cost = Math.min(positiveInt(points, 'points', 1), left);
    if (cost > 0) await this.limiter.check(k, { ...this.spec(), cost });
    return (await this.get(key)) ?? new RateLimiterRes(this.points, 0, 0, false);
  }

  /** Gives back up to `points` (RL.REFUND). */
  async reward(key: string | number, points = 1): Promise<RateLimiterRes> {
    await this.limiter.refund(this.getKey(key), positiveInt(points, 'points', 1));
    return (await this.get(key)) ?? new RateLimiterRes(this.points, 0, 0, false);
  }

  /** The key's state, or null when it has none. */
  async get(key: string | number): Promise<RateLimiterRes | null> {
    const i = await this.limiter.inspect(this.getKey(key));
    if (i === null) return null;
    const blocked = typeof i.blockedMs === 'number' && i.blockedMs > 0 ? i.blockedMs : 0;
    if (blocked > 0) return new RateLimiterRes(0, blocked, this.points + 1, false);
    const limit = typeof i.limit === 'number' && i.limit > 0 ? i.limit : this.points;
    return new RateLimiterRes(i.remaining, i.resetAfterMs, limit - i.remaining, false);
  }

  /** Sets the consumed points (at most `points` count in the window; above that the key is blocked for secDuration). */
  async set(key: string | number, points: number, secDuration = 0): Promise<RateLimiterRes> {
    const k = this.getKey(key);
    await this.limiter.reset(k);
    const n = positiveInt(points, 'points', 0);
    if (n > 0) await this.limiter.check(k, { ...this.spec(), cost: Math.min(n, this.points) });
    if (n > this.points && secDuration > 0) await this.limiter.block(k, secDuration * 1000);
    return (await this.get(key)) ?? new RateLimiterRes(this.points, 0, 0, false);
  }

  /** Blocks the key for `secDuration` seconds (RL.BLOCK). */
  async block(key: string | number, secDuration: number): Promise<RateLimiterRes> {
    const ms = positiveInt(secDuration, 'secDuration', 1) * 1000;
    await this.limiter.block(this.getKey(key), ms);
    return new RateLimiterRes(0, ms, this.points + 1, false);
  }

  /** Removes the key; true when it existed. */
  async delete(key: string | number): Promise<boolean> {
    return (await this.limiter.reset(this.getKey(key))) > 0;
  }

  private spec(): { algorithm: Algorithm; limit: number; period: number } {
    return { algorithm: this.algorithm, limit: this.points, period: this.duration * 1000 };
  }

  private res(d: Decision, cost: number): RateLimiterRes {
    const used = d.limit - d.remaining;
    if (d.allowed) return new RateLimiterRes(d.remaining, d.resetAfterMs, used, used === cost);
    const wait = d.retryAfterMs >= 0 ? d.retryAfterMs : d.resetAfterMs;
    // As in rate-limiter-flexible, a rejection reports the points it would have made (above `points`).
    return new RateLimiterRes(d.remaining, wait, used + cost, false);
  }
}
