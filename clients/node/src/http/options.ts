import { ArgumentError } from '../errors.js';
import type { Limit } from '../limit.js';
import type { Decision } from '../reply.js';
import type { HeaderStyle } from './headers.js';

/**
 * Who a request counts against: its client IP, an API-key header (a request without it counts
 * against its client IP), or your function (returning undefined lets the request through uncounted).
 */
export type KeySource<Req> =
  | 'ip'
  | { header: string }
  | ((req: Req) => string | undefined | Promise<string | undefined>);

/** Options shared by the Express middleware and the Fastify plugin. */
export interface HttpOptions<Req, Res> {
  /** This route's limit, over the limiter's default (e.g. `{ limit: 5, period: '1m' }`). */
  limit?: Partial<Limit>;
  /** Default "ip" (the framework's req.ip, which honours its trust-proxy setting). */
  key?: KeySource<Req>;
  /** Key prefix (default "rl:http:"). */
  prefix?: string;
  /** Keeps routes with different limits apart in the keyspace ("login" -> rl:http:login:ip:...). */
  name?: string;
  /** Units a request takes (default 1). */
  cost?: number | ((req: Req) => number);
  /** Requests for which this returns true are not counted and get no headers. */
  skip?: (req: Req) => boolean | Promise<boolean>;
  /** After the response: true gives the request's units back (e.g. count only failures: status < 400). */
  refundWhen?: (req: Req, res: Res) => boolean;
  /** Sends your own denial response instead of the default 429 (headers are already set). */
  onDenied?: (req: Req, res: Res, decision: Decision) => unknown;
  /** Header style (default "draft-8"); false sends no RateLimit headers (Retry-After still goes on 429). */
  headers?: HeaderStyle;
  /** The policy's name in draft-8 headers (default the `name`, or "default"). */
  policyName?: string;
  /** Status for a request whose cost can never fit (retryAfterMs -1); default 413. */
  neverStatus?: number;
}

interface HeaderedRequest {
  ip?: string;
  headers: Record<string, string | string[] | undefined>;
}

/**
 * The key of one request, or undefined when it has none (no IP, or the function returned undefined).
 * A missing or empty API-key header falls back to the client IP, so leaving the header off is no way
 * around the limit.
 */
export async function requestKey<Req extends HeaderedRequest>(
  req: Req,
  source: KeySource<Req>,
  prefix: string,
): Promise<string | undefined> {
  if (typeof source === 'function') {
    const k = await source(req);
    return typeof k === 'string' ? `${prefix}fn:${k}` : undefined;
  }
  const byIp = req.ip === undefined ? undefined : `${prefix}ip:${req.ip}`;
  if (source === 'ip') return byIp;
  if (typeof source === 'object' && typeof source.header === 'string') {
    const v = req.headers[source.header.toLowerCase()];
    const value = Array.isArray(v) ? v[0] : v;
    return value === undefined || value === '' ? byIp : `${prefix}header:${value}`;
  }
  throw new ArgumentError('key: expected "ip", { header: name } or a function');
}

export function keyPrefix(opts: { prefix?: string; name?: string }): string {
  return `${opts.prefix ?? 'rl:http:'}${opts.name === undefined ? '' : `${opts.name}:`}`;
}

export function requestCost<Req>(req: Req, cost: HttpOptions<Req, unknown>['cost']): number {
  return typeof cost === 'function' ? cost(req) : (cost ?? 1);
}

export const DEFAULT_HEADERS: HeaderStyle = 'draft-8';

export const DENIED_BODY = 'Too Many Requests';
export const NEVER_BODY = 'Request Exceeds The Rate Limit';
