import { CircuitBreaker, type BreakerOptions, type BreakerState } from './breaker.js';
import { Deadlines } from './deadlines.js';
import { toMs, type Duration } from './duration.js';
import { ArgumentError, ServerError, UnavailableError, classify, type RateLimitError } from './errors.js';
import { checkKey, checkPolicyName, normalize, specArgs, type Key, type Limit, type NormalLimit, type PolicyLimit } from './limit.js';
import { LocalLimiter } from './local.js';
import { Lru } from './lru.js';
import type { MetricsSink } from './metrics.js';
import * as reply from './reply.js';
import type { Decision, Inspection, Lease, MultiDecision } from './reply.js';
import { transportFor, type RedisLike, type Send } from './transport.js';

/** What a decision is when the server cannot be reached (breaker open, timeout, connection lost). */
export type OnUnavailable = 'open' | 'closed' | 'local' | 'throw';

export interface RateLimiterOptions {
  /** The limit `check(key)` uses when the call gives none (or a `{ policy }`); a call's limit fields override it. */
  limit?: Limit | PolicyLimit;
  /** Prepended to every key (default none). */
  prefix?: string;
  /** Per call, in ms (default 50; 0 waits as long as the Redis client does). */
  timeout?: number;
  /**
   * node-redis only: abort a timed-out command still waiting in the client's offline queue, so
   * it cannot charge the key when the connection returns (default false: an AbortSignal per call
   * cost about 60 µs and most of the throughput in the benchmark). Alternatively create the
   * client with `disableOfflineQueue: true`.
   */
  abortOnTimeout?: boolean;
  /** Circuit breaker thresholds, or false for none. */
  breaker?: BreakerOptions | false;
  /** Decisions while the server is unavailable (default "open": admit). */
  onUnavailable?: OnUnavailable;
  /** Deny a key locally until its retryAfterMs has passed (default off; true = 10,000 keys). */
  denialCache?: boolean | { maxKeys?: number };
  /** Keys the "local" fallback limiter keeps (default 10,000). */
  localMaxKeys?: number;
  /** Where decisions, errors, latencies and breaker states go (e.g. a PrometheusMetrics). */
  metrics?: MetricsSink;
}

export interface MCheckEntry {
  key: Key;
  limit?: Partial<Limit> | PolicyLimit;
}

/** A policy as RL.POLICY SET takes it (see docs/policies.md). */
export interface Policy {
  limits: Record<string, unknown>[];
  shadow?: boolean;
}

export interface AcquireOptions {
  /** Units held at once. */
  limit: number;
  /** How long the lease lasts unless released or renewed (ms or a duration string). */
  lease: Duration;
  cost?: number;
}

interface CachedDenial {
  until: number;
  cost: number;
  decision: Decision;
}

const keyId = (k: Key): string => (typeof k === 'string' ? `s${k}` : `b${k.toString('hex')}`);
const limitId = (l: NormalLimit): string =>
  l.policy !== undefined ? `policy/${l.policy}` : `${l.algorithm}/${l.limit}/${l.periodMs}/${l.burst ?? ''}/${l.utcOffset ?? ''}`;

/** A limiter over the application's own node-redis or ioredis client (single node or Cluster). */
export class RateLimiter {
  readonly breaker: CircuitBreaker | undefined;
  readonly onUnavailable: OnUnavailable;
  readonly timeout: number;
  private readonly send: Send;
  private readonly defaultLimit: Limit | PolicyLimit | undefined;
  private readonly prefix: string;
  private readonly local: LocalLimiter;
  private readonly denials: Lru<string, CachedDenial> | undefined;
  private readonly metrics: MetricsSink | undefined;
  private readonly deadlines: Deadlines | undefined;
  private readonly abortOnTimeout: boolean;
  // Validated limits and their spec arguments, by the object the caller passed (usually a constant).
  private readonly limits = new WeakMap<object, NormalLimit>();
  private readonly specs = new WeakMap<NormalLimit, string[]>();
  private defaultNormal: NormalLimit | undefined;

  constructor(client: RedisLike, options: RateLimiterOptions = {}) {
    this.send = transportFor(client);
    this.defaultLimit = options.limit;
    if (options.limit !== undefined) this.defaultNormal = normalize(options.limit);
    this.prefix = options.prefix ?? '';
    this.timeout = options.timeout ?? 50;
    if (typeof this.timeout !== 'number' || this.timeout < 0) throw new ArgumentError('timeout: expected ms >= 0');
    this.deadlines = this.timeout > 0 ? new Deadlines(this.timeout) : undefined;
    this.abortOnTimeout = options.abortOnTimeout === true && this.send.abortable === true;
    this.onUnavailable = options.onUnavailable ?? 'open';
    if (!['open', 'closed', 'local', 'throw'].includes(this.onUnavailable)) {
      throw new ArgumentError('onUnavailable: expected "open", "closed", "local" or "throw"');
    }
    this.metrics = options.metrics;
    this.breaker =
      options.breaker === false
        ? undefined
        : new CircuitBreaker(options.breaker ?? {}, (s) => this.metrics?.breakerState(s));
    this.local = new LocalLimiter(options.localMaxKeys ?? 10_000);
    const dc = options.denialCache;
    if (dc !== undefined && dc !== false) {
      this.denials = new Lru(dc === true ? 10_000 : (dc.maxKeys ?? 10_000));
    }
  }

  /** The limit a call with `limit` would use (the default merged with it), validated. */
  resolve(limit?: Partial<Limit> | PolicyLimit): NormalLimit {
    return this.limit(limit, 1);
  }

  /** The breaker's state (closed when there is none). */
  get breakerState(): BreakerState {
    return this.breaker?.state ?? 'closed';
  }

  /** Checks one request against `key` and charges it if admitted (RL.CHECK). */
  async check(key: Key, limit?: Partial<Limit> | PolicyLimit): Promise<Decision> {
    const [k, l] = this.counted(() => [this.key(key), this.limit(limit, 1)] as const);
    const cacheId = this.denials === undefined ? '' : `${keyId(k)}|${limitId(l)}`;
    const cached = this.cached(cacheId, l);
    if (cached !== undefined) return this.count(cached);
    const args = ['RL.CHECK', k, ...this.spec(l)];
    const d = await this.decide(
      () => this.call(k, false, args, (r) => reply.decision(r, l.atMost)),
      () => this.fallback(k, l, true),
    );
    if (this.denials !== undefined && d.source === 'server' && !d.allowed && d.retryAfterMs > 0) {
      this.denials.set(cacheId, { until: Date.now() + d.retryAfterMs, cost: l.atMost ? 1 : l.cost, decision: d });
    }
    return this.count(d);
  }

  /** What `check` would reply now, without charging anything (RL.PEEK; cost 0 gives the quota left). */
  async peek(key: Key, limit?: Partial<Limit> | PolicyLimit): Promise<Decision> {
    const [k, l] = this.counted(() => [this.key(key), this.limit(limit, 0)] as const);
    if (l.atMost || l.shadow === true) throw new ArgumentError(`${l.atMost ? 'atMost' : 'shadow'}: applies only to check`);
    const args = ['RL.PEEK', k, ...specArgs(l, true, false)];
    return this.decide(
      () => this.call(k, true, args, (r) => reply.decision(r, false)),
      () => this.fallback(k, l, false),
    );
  }

  /** Several keys at one instant, all or nothing (RL.MCHECK); in a Cluster they must share a slot. */
  async mcheck(entries: MCheckEntry[]): Promise<MultiDecision> {
    if (!Array.isArray(entries) || entries.length === 0 || entries.length > 1024) {
      throw new ArgumentError('entries: expected 1 to 1024 { key, limit } entries');
    }
    const keys = entries.map((e) => this.key(e.key));
    const limits = entries.map((e) => this.limit(e.limit, 1));
    if (limits.some((l) => l.atMost || l.shadow === true)) throw new ArgumentError('atMost, shadow: apply only to check');
    const ids = new Set(keys.map(keyId));
    if (ids.size !== keys.length) throw new ArgumentError('entries: a key appears more than once');
    const args = ['RL.MCHECK', String(keys.length), ...keys, ...limits.flatMap((l) => specArgs(l, true, false))];
    try {
      const m = await this.call(keys[0], false, args, reply.multiDecision);
      for (const d of m.results) this.metrics?.decision(d.allowed ? 'allowed' : 'denied', 'server');
      return m;
    } catch (e) {
      if (!(e instanceof UnavailableError) || this.onUnavailable === 'throw') throw e;
      const peeks = keys.map((k, i) => this.fallback(k, limits[i], false));
      const allowed = peeks.every((d) => d.allowed);
      const results = allowed ? keys.map((k, i) => this.fallback(k, limits[i], true)) : peeks;
      for (const d of results) this.metrics?.decision(d.allowed ? 'allowed' : 'denied', 'fallback');
      const waits = results.filter((d) => !d.allowed).map((d) => d.retryAfterMs);
      const retryAfterMs = allowed ? -1 : waits.includes(-1) ? -1 : Math.max(...waits);
      return { allowed, retryAfterMs, results, source: 'fallback' };
    }
  }

  /** Removes limiters; replies how many existed (RL.RESET, one call per key so Cluster slots never cross). */
  async reset(...keys: Key[]): Promise<number> {
    if (keys.length === 0) throw new ArgumentError('reset: expected at least one key');
    const ks = keys.map((k) => this.key(k));
    for (const k of ks) this.local.forget(keyId(k));
    // The denial cache is keyed by key and limit; a reset is rare enough to drop all of it.
    this.denials?.clear();
    const counts = await Promise.all(ks.map((k) => this.call(k, false, ['RL.RESET', k], intReply)));
    return counts.reduce((a, b) => a + b, 0);
  }

  /** The limiter's stored state, or null for a missing key (RL.INSPECT). */
  async inspect(key: Key): Promise<Inspection | null> {
    const k = this.key(key);
    return this.call(k, true, ['RL.INSPECT', k], reply.inspection);
  }

  /** Gives back up to `cost` units the key was charged; replies the units given back (RL.REFUND). */
  async refund(key: Key, cost = 1): Promise<number> {
    const k = this.key(key);
    const n = normalize({ algorithm: 'GCRA', limit: 1, period: 1, cost }).cost;
    return this.call(k, false, ['RL.REFUND', k, 'COST', String(n)], intReply);
  }

  /** Blocks the key for `duration` from now: every check is denied until then (RL.BLOCK; replaces any block). */
  async block(key: Key, duration: Duration): Promise<void> {
    const k = this.key(key);
    await this.call(k, false, ['RL.BLOCK', k, String(toMs(duration, 'block'))], () => undefined);
  }

  /** Creates or replaces a server policy (RL.POLICY SET); replies its version. On a Cluster, set it on every primary. */
  async policySet(name: string, policy: Policy): Promise<number> {
    checkPolicyName(name);
    if (policy === null || typeof policy !== 'object' || !Array.isArray(policy.limits)) {
      throw new ArgumentError('policy: expected { limits: [...], shadow? }');
    }
    return this.call(undefined, false, ['RL.POLICY', 'SET', name, JSON.stringify(policy)], intReply);
  }

  /** The policy as the server keeps it (canonical, with `version`), or null. */
  async policyGet(name: string): Promise<(Policy & { version: number }) | null> {
    checkPolicyName(name);
    return this.call(undefined, true, ['RL.POLICY', 'GET', name], (r) =>
      typeof r === 'string' || Buffer.isBuffer(r) ? (JSON.parse(r.toString()) as Policy & { version: number }) : null,
    );
  }

  /** Removes a policy; true when it existed. */
  async policyDel(name: string): Promise<boolean> {
    checkPolicyName(name);
    return (await this.call(undefined, false, ['RL.POLICY', 'DEL', name], intReply)) === 1;
  }

  /**
   * Replaces the whole set at once (RL.POLICY LOAD); replies how many. A bad policy replaces nothing.
   * On a Cluster, load it on every primary.
   */
  async policyLoad(policies: Record<string, Policy>): Promise<number> {
    if (policies === null || typeof policies !== 'object') throw new ArgumentError('policies: expected { name: policy, ... }');
    for (const name of Object.keys(policies)) checkPolicyName(name);
    return this.call(undefined, false, ['RL.POLICY', 'LOAD', JSON.stringify({ policies })], intReply);
  }

  /** The policy names, sorted. */
  async policyList(): Promise<string[]> {
    return this.call(undefined, true, ['RL.POLICY', 'LIST'], (r) => (Array.isArray(r) ? r.map(String) : []));
  }

  /** A digest of the whole set: equal on two servers exactly when their policies are. */
  async policyDigest(): Promise<string> {
    return this.call(undefined, true, ['RL.POLICY', 'DIGEST'], (r) => (typeof r === 'string' ? r : Buffer.isBuffer(r) ? r.toString() : ''));
  }

  /** Takes a concurrency lease of `cost` units out of `limit` (RL.ACQUIRE). */
  async acquire(key: Key, opts: AcquireOptions): Promise<Lease> {
    const k = this.key(key);
    if (opts === null || typeof opts !== 'object') throw new ArgumentError('acquire: expected { limit, lease, cost? }');
    const n = normalize({ algorithm: 'GCRA', limit: opts.limit, period: 1, cost: opts.cost });
    const leaseMs = toMs(opts.lease, 'lease');
    const args = ['RL.ACQUIRE', k, String(n.limit), String(leaseMs)];
    if (n.cost !== 1) args.push('COST', String(n.cost));
    return this.call(k, false, args, reply.lease);
  }

  /** Frees a lease; replies the units freed (0 when it is no longer held). */
  async release(key: Key, leaseId: string): Promise<number> {
    const k = this.key(key);
    return this.call(k, false, ['RL.RELEASE', k, leaseIdArg(leaseId)], intReply);
  }

  /** Extends (or shortens) a held lease to `lease` from now; false when it is no longer held. */
  async renew(key: Key, leaseId: string, lease: Duration): Promise<boolean> {
    const k = this.key(key);
    const args = ['RL.RENEW', k, leaseIdArg(leaseId), String(toMs(lease, 'lease'))];
    return (await this.call(k, false, args, intReply)) === 1;
  }

  /** Validation before the network: its ArgumentErrors count in the metrics like the server's. */
  private counted<T>(validate: () => T): T {
    try {
      return validate();
    } catch (e) {
      if (e instanceof ArgumentError) this.metrics?.error('argument');
      throw e;
    }
  }

  private key(key: Key): Key {
    const k = checkKey(key);
    if (this.prefix === '') return k;
    return typeof k === 'string' ? this.prefix + k : Buffer.concat([Buffer.from(this.prefix), k]);
  }

  private limit(l: Partial<Limit> | PolicyLimit | undefined, minCost: number): NormalLimit {
    if (l === undefined && minCost === 1 && this.defaultNormal !== undefined) return this.defaultNormal;
    if (l === undefined) return normalize(this.defaultLimit, minCost);
    // A policy given in the call replaces an algorithm default rather than merging into it.
    if ('policy' in l && this.defaultLimit !== undefined && !('policy' in this.defaultLimit)) return normalize(l, minCost);
    if (minCost === 1 && typeof l === 'object' && l !== null) {
      let n = this.limits.get(l);
      if (n === undefined) {
        n = normalize(this.defaultLimit === undefined ? l : { ...this.defaultLimit, ...l }, minCost);
        this.limits.set(l, n);
      }
      return n;
    }
    if (this.defaultLimit === undefined) return normalize(l, minCost);
    return normalize({ ...this.defaultLimit, ...l }, minCost);
  }

  /** RL.CHECK's spec arguments for a limit, built once per limit. */
  private spec(l: NormalLimit): string[] {
    let a = this.specs.get(l);
    if (a === undefined) {
      a = specArgs(l, true, true);
      this.specs.set(l, a);
    }
    return a;
  }

  private cached(id: string, l: NormalLimit): Decision | undefined {
    if (this.denials === undefined) return undefined;
    const c = this.denials.get(id);
    if (c === undefined) return undefined;
    const left = c.until - Date.now();
    if (left <= 0) {
      this.denials.delete(id);
      return undefined;
    }
    if ((l.atMost ? 1 : l.cost) < c.cost) return undefined;
    const d: Decision = { ...c.decision, retryAfterMs: left, source: 'cache' };
    if (l.atMost) d.granted = 0;
    else delete d.granted;
    return d;
  }

  private count(d: Decision): Decision {
    this.metrics?.decision(d.allowed ? 'allowed' : 'denied', d.source);
    return d;
  }

  private async decide(server: () => Promise<Decision>, fallback: () => Decision): Promise<Decision> {
    try {
      return await server();
    } catch (e) {
      if (e instanceof UnavailableError && this.onUnavailable !== 'throw') return fallback();
      throw e;
    }
  }

  private fallback(k: Key, l: NormalLimit, charge: boolean): Decision {
    switch (this.onUnavailable) {
      case 'local':
        // A policy's limits are in the server: without it there is nothing to count locally.
        if (l.policy === undefined) return this.local.decide(keyId(k), l, charge);
        return this.fallbackOpen(l);
      case 'closed': {
        const wait = this.breaker === undefined ? 1000 : this.breaker.openRemainingMs || this.breaker.cooldownMs;
        const d: Decision = {
          allowed: false,
          limit: l.limit,
          remaining: 0,
          retryAfterMs: wait,
          resetAfterMs: wait,
          source: 'fallback',
        };
        if (l.atMost) d.granted = 0;
        return d;
      }
      default:
        return this.fallbackOpen(l);
    }
  }

  private fallbackOpen(l: NormalLimit): Decision {
    const d: Decision = {
      allowed: true,
      limit: l.limit,
      remaining: Math.max(0, (l.burst ?? l.limit) - l.cost),
      retryAfterMs: -1,
      resetAfterMs: 0,
      source: 'fallback',
    };
    if (l.atMost) d.granted = l.cost;
    return d;
  }

  private withTimeout<T>(p: Promise<T>, deadlines: Deadlines, ctl: AbortController | undefined): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const entry = deadlines.add(() => {
        ctl?.abort();
        reject(new UnavailableError(`timed out after ${this.timeout} ms`));
      });
      p.then(
        (v) => {
          entry.done = true;
          resolve(v);
        },
        (e: unknown) => {
          entry.done = true;
          reject(e instanceof Error ? e : new Error(String(e)));
        },
      );
    });
  }

  /** One round trip through the timeout and the breaker; errors come out as the three classes. */
  private async call<T>(key: Key | undefined, readonly: boolean, args: (string | Buffer)[], parse: (r: unknown) => T): Promise<T> {
    const breaker = this.breaker;
    if (breaker !== undefined && !breaker.tryAcquire()) {
      throw new UnavailableError(`circuit breaker open (${breaker.openRemainingMs} ms left)`);
    }
    const ctl = this.deadlines !== undefined && this.abortOnTimeout ? new AbortController() : undefined;
    const started = performance.now();
    let err: RateLimitError;
    try {
      const sent = this.send(key, readonly, args, ctl?.signal);
      const raw = await (this.deadlines === undefined ? sent : this.withTimeout(sent, this.deadlines, ctl));
      this.metrics?.callDuration((performance.now() - started) / 1000);
      breaker?.success();
      return parse(raw);
    } catch (e) {
      err = classify(e);
    }
    if (err instanceof UnavailableError) {
      breaker?.failure();
      this.metrics?.error('unavailable');
    } else {
      // The server answered: it is reachable, whatever it said.
      this.metrics?.callDuration((performance.now() - started) / 1000);
      breaker?.success();
      this.metrics?.error(err instanceof ServerError ? 'server' : 'argument');
    }
    throw err;
  }
}

function intReply(r: unknown): number {
  if (typeof r === 'number') return r;
  const n = Number(r);
  if (!Number.isFinite(n)) throw new ServerError('ERR unexpected reply from the server: not an integer');
  return n;
}

function leaseIdArg(id: unknown): string {
  if (typeof id !== 'string' || !/^[0-9a-fA-F]{16}$/.test(id)) {
    throw new ArgumentError('leaseId: expected the 16 hexadecimal digits acquire replied');
  }
  return id;
}
