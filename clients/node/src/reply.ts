import { ServerError } from './errors.js';

/** Where a decision came from: the server, the onUnavailable policy, or the local denial cache. */
export type Source = 'server' | 'fallback' | 'cache';

export interface Decision {
  allowed: boolean;
  limit: number;
  remaining: number;
  /** -1 when allowed, and when denied for a cost that can never fit; otherwise ms until a retry is admitted. */
  retryAfterMs: number;
  /** Milliseconds until the limiter is fully rested. */
  resetAfterMs: number;
  /** With `atMost`: the units admitted (0 when denied). */
  granted?: number;
  /** Policy checks on RESP3: the position (from 1) of the policy limit that decided. */
  decidedBy?: number;
  /** Policy checks on RESP3: 1 when shadow mode admitted what enforcement would deny. */
  shadowDenied?: number;
  source: Source;
}

export interface MultiDecision {
  allowed: boolean;
  retryAfterMs: number;
  results: Decision[];
  source: Source;
}

export interface Lease {
  acquired: boolean;
  limit: number;
  remaining: number;
  retryAfterMs: number;
  /** The lease's id (opaque), null when not acquired. */
  leaseId: string | null;
  source: Source;
}

/** RL.INSPECT's fields, camelCased; the algorithm's own fields (tokens, tatMs, count, ...) as well. */
export type Inspection = Record<string, string | number> & {
  algorithm: string;
  limit: number;
  periodMs: number;
  period: string;
  burst: number;
  remaining: number;
  resetAfterMs: number;
  ttlMs: number;
  admitted: number;
  denied: number;
};

/**
 * RESP3 maps arrive as plain objects (node-redis 5) or Map (other type mappings); RESP2 as
 * arrays in a fixed order. Either way the caller gets the same fields.
 */
function fields(reply: unknown, names: readonly string[]): unknown[] {
  if (Array.isArray(reply)) return reply;
  if (reply instanceof Map) return names.map((n): unknown => (reply as Map<string, unknown>).get(n));
  if (reply !== null && typeof reply === 'object') return names.map((n) => (reply as Record<string, unknown>)[n]);
  throw new ServerError(`ERR unexpected reply from the server: ${typeof reply}`);
}

function int(v: unknown): number {
  const n = typeof v === 'number' ? v : typeof v === 'bigint' ? Number(v) : Number(String(v));
  if (!Number.isFinite(n)) throw new ServerError('ERR unexpected reply from the server: not an integer');
  return n;
}

const DECISION = ['allowed', 'limit', 'remaining', 'retry_after_ms', 'reset_after_ms', 'granted'] as const;

export function decision(reply: unknown, withGranted: boolean): Decision {
  const f = fields(reply, DECISION);
  const d: Decision = {
    allowed: int(f[0]) === 1,
    limit: int(f[1]),
    remaining: int(f[2]),
    retryAfterMs: int(f[3]),
    resetAfterMs: int(f[4]),
    source: 'server',
  };
  if (withGranted) d.granted = int(f[5]);
  if (!Array.isArray(reply)) {
    const [by, shadow] = fields(reply, ['decided_by', 'shadow_denied']);
    if (by !== undefined) d.decidedBy = int(by);
    if (shadow !== undefined) d.shadowDenied = int(shadow);
  }
  return d;
}

export function multiDecision(reply: unknown): MultiDecision {
  const f = fields(reply, ['allowed', 'retry_after_ms', 'results']);
  const results = Array.isArray(reply) ? f.slice(2) : (f[2] as unknown[]);
  return {
    allowed: int(f[0]) === 1,
    retryAfterMs: int(f[1]),
    results: results.map((r) => decision(r, false)),
    source: 'server',
  };
}

export function lease(reply: unknown): Lease {
  const f = fields(reply, ['acquired', 'limit', 'remaining', 'retry_after_ms', 'lease_id']);
  const id = f[4];
  return {
    acquired: int(f[0]) === 1,
    limit: int(f[1]),
    remaining: int(f[2]),
    retryAfterMs: int(f[3]),
    leaseId: typeof id === 'string' ? id : Buffer.isBuffer(id) ? id.toString() : null,
    source: 'server',
  };
}

const camel = (s: string): string => s.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());

export function inspection(reply: unknown): Inspection | null {
  if (reply === null || reply === undefined) return null;
  const out: Record<string, string | number> = {};
  // Integers stay numbers; words (algorithm, period, unit) and decimals (tokens) stay text, so
  // fields a newer server adds come through too.
  const put = (k: unknown, v: unknown): void => {
    const text = Buffer.isBuffer(v) ? v.toString() : v;
    out[camel(String(k))] =
      typeof text === 'number' ? text : typeof text === 'string' && /^-?\d+$/.test(text) ? Number(text) : String(text);
  };
  if (Array.isArray(reply)) for (let i = 0; i + 1 < reply.length; i += 2) put(reply[i], reply[i + 1]);
  else if (reply instanceof Map) for (const [k, v] of reply) put(k, v);
  else for (const [k, v] of Object.entries(reply)) put(k, v);
  return out as Inspection;
}
