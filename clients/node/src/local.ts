import type { NormalLimit } from './limit.js';
import type { Decision } from './reply.js';
import { Lru } from './lru.js';

interface State {
  algorithm: string;
  /** GCRA: theoretical arrival time; windows: current window start. */
  a: number;
  /** Windows: current count. */
  b: number;
  /** SLIDING_WINDOW: previous window's count. */
  c: number;
  /** SLIDING_LOG: admission times, one per unit, oldest first. */
  log: number[];
  /** A penalty block (BLOCK ms) ends here. */
  blockedUntil: number;
}

/**
 * The in-process limiter behind `onUnavailable: "local"`: the same parameters as the server,
 * counted in this process only (so N processes admit up to N times the limit while the server is
 * down). TOKEN_BUCKET uses the GCRA arithmetic (the same burst and refill rate); the windows
 * count as the server does. Keys are held in an LRU of `maxKeys`: an evicted key starts rested.
 */
export class LocalLimiter {
  private readonly states: Lru<string, State>;
  constructor(maxKeys = 10_000) {
    this.states = new Lru(maxKeys);
  }

  get size(): number {
    return this.states.size;
  }

  clear(): void {
    this.states.clear();
  }

  forget(key: string): void {
    this.states.delete(key);
  }

  decide(key: string, l: NormalLimit, charge: boolean, now = Date.now()): Decision {
    let s = this.states.get(key);
    if (s === undefined || s.algorithm !== l.algorithm) s = { algorithm: l.algorithm, a: 0, b: 0, c: 0, log: [], blockedUntil: 0 };
    if (s.blockedUntil > now) {
      const left = s.blockedUntil - now;
      return { ...result(false, l, 0, left, left), ...(l.atMost ? { granted: 0 } : {}) };
    }
    const d = this.evaluate(s, l, now, charge);
    if (charge && !d.allowed && l.blockMs !== undefined) {
      s.blockedUntil = now + l.blockMs;
      if (d.retryAfterMs !== -1) d.retryAfterMs = Math.max(d.retryAfterMs, l.blockMs);
      d.remaining = 0;
      this.states.set(key, s);
    }
    if (charge && d.allowed && l.cost > 0) this.states.set(key, s);
    return d;
  }

  private evaluate(s: State, l: NormalLimit, now: number, charge: boolean): Decision {
    switch (l.algorithm) {
      case 'TOKEN_BUCKET':
      case 'GCRA':
        return gcra(s, l, now, charge);
      case 'FIXED_WINDOW':
      case 'CALENDAR': // windows of the unit's nominal length, from the epoch: an approximation
        return fixedWindow(s, l, now, charge);
      case 'SLIDING_WINDOW':
        return slidingWindow(s, l, now, charge);
      case 'SLIDING_LOG':
        return slidingLog(s, l, now, charge);
    }
  }
}

const result = (
  allowed: boolean,
  l: NormalLimit,
  remaining: number,
  retryAfterMs: number,
  resetAfterMs: number,
): Decision => ({
  allowed,
  limit: l.limit,
  remaining: Math.max(0, Math.floor(remaining)),
  retryAfterMs: allowed ? -1 : Math.max(-1, Math.ceil(retryAfterMs)),
  resetAfterMs: Math.max(0, Math.ceil(resetAfterMs)),
  source: 'fallback',
});

function gcra(s: State, l: NormalLimit, now: number, charge: boolean): Decision {
  const burst = l.burst ?? l.limit;
  const t = l.periodMs / l.limit;
  const tau = t * burst;
  const tat = Math.max(s.a, now);
  const available = Math.floor((tau - (tat - now)) / t + 1e-9);
  let cost = l.cost;
  if (l.atMost) cost = Math.min(cost, Math.max(available, 0));
  const withGranted = (d: Decision, g: number): Decision => (l.atMost ? { ...d, granted: g } : d);
  if (l.cost > burst && !l.atMost) return result(false, l, available, -1, tat - now);
  if (l.atMost && cost === 0) return withGranted(result(false, l, 0, tat + t - tau - now, tat - now), 0);
  const next = tat + cost * t;
  if (next - now <= tau + 1e-9) {
    if (charge) s.a = next;
    return withGranted(result(true, l, (tau - (next - now)) / t + 1e-9, -1, next - now), cost);
  }
  return withGranted(result(false, l, available, next - tau - now, tat - now), 0);
}

function fixedWindow(s: State, l: NormalLimit, now: number, charge: boolean): Decision {
  const start = Math.floor(now / l.periodMs) * l.periodMs;
  if (s.a !== start) Object.assign(s, { a: start, b: 0 });
  const end = start + l.periodMs - now;
  if (l.cost > l.limit) return result(false, l, l.limit - s.b, -1, s.b > 0 ? end : 0);
  if (s.b + l.cost <= l.limit) {
    if (charge) s.b += l.cost;
    const used = charge ? s.b : s.b + l.cost;
    return result(true, l, l.limit - used, -1, used > 0 ? end : 0);
  }
  return result(false, l, l.limit - s.b, end, end);
}

function slidingWindow(s: State, l: NormalLimit, now: number, charge: boolean): Decision {
  const p = l.periodMs;
  const start = Math.floor(now / p) * p;
  if (s.a !== start) Object.assign(s, { c: s.a === start - p ? s.b : 0, b: 0, a: start });
  const weight = (p - (now - start)) / p;
  const estimate = s.c * weight + s.b;
  if (l.cost > l.limit) return result(false, l, l.limit - estimate, -1, start + 2 * p - now);
  if (estimate + l.cost <= l.limit + 1e-9) {
    if (charge) s.b += l.cost;
    return result(true, l, l.limit - estimate - l.cost, -1, start + 2 * p - now);
  }
  const room = l.limit - s.b - l.cost;
  const wait = room < 0 || s.c === 0 ? start + p - now : start + p * (1 - room / s.c) - now;
  return result(false, l, l.limit - estimate, wait, start + 2 * p - now);
}

function slidingLog(s: State, l: NormalLimit, now: number, charge: boolean): Decision {
  while (s.log.length > 0 && s.log[0] <= now - l.periodMs) s.log.shift();
  const n = s.log.length;
  const newest = n > 0 ? s.log[n - 1] + l.periodMs - now : 0;
  if (l.cost > l.limit) return result(false, l, l.limit - n, -1, newest);
  if (n + l.cost <= l.limit) {
    if (charge) for (let i = 0; i < l.cost; i++) s.log.push(now);
    return result(true, l, l.limit - n - l.cost, -1, l.cost > 0 ? l.periodMs : newest);
  }
  return result(false, l, l.limit - n, s.log[n + l.cost - l.limit - 1] + l.periodMs - now, newest);
}
