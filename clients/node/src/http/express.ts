import type { RateLimiter } from '../limiter.js';
import { rateLimitHeaders } from './headers.js';
import { DEFAULT_HEADERS, DENIED_BODY, NEVER_BODY, keyPrefix, requestCost, requestKey, type HttpOptions } from './options.js';

/** The parts of Express's request and response the middleware uses (Express 4 and 5). */
export interface ExpressRequest {
  ip?: string;
  headers: Record<string, string | string[] | undefined>;
}
export interface ExpressResponse {
  statusCode: number;
  setHeader(name: string, value: string): unknown;
  status(code: number): ExpressResponse;
  send(body?: unknown): unknown;
  once(event: 'finish', listener: () => void): unknown;
}
export type ExpressNext = (err?: unknown) => void;

export type ExpressRateLimitOptions<Req, Res> = HttpOptions<Req, Res>;

/**
 * Express middleware: checks each request against `limiter`, sets RateLimit headers, and answers
 * a denial with 429 and Retry-After. Mount one per route for per-route limits (give each a `name`).
 * A request without the API-key header counts against its IP; one with no key at all (no IP, or the
 * key function returned undefined) is let through uncounted.
 */
export function expressRateLimit<Req extends ExpressRequest = ExpressRequest, Res extends ExpressResponse = ExpressResponse>(
  limiter: RateLimiter,
  opts: ExpressRateLimitOptions<Req, Res> = {},
): (req: Req, res: Res, next: ExpressNext) => Promise<void> {
  const base = limiter.resolve(opts.limit); // validated now, not at the first request
  const prefix = keyPrefix(opts);
  const style = opts.headers ?? DEFAULT_HEADERS;
  const policy = opts.policyName ?? opts.name ?? 'default';
  return async function redisRateLimit(req, res, next) {
    let refund: (() => void) | undefined;
    try {
      if (opts.skip !== undefined && (await opts.skip(req))) {
        next();
        return;
      }
      const key = await requestKey(req, opts.key ?? 'ip', prefix);
      if (key === undefined) {
        next();
        return;
      }
      const cost = requestCost(req, opts.cost);
      const d = await limiter.check(key, cost === 1 ? opts.limit : { ...opts.limit, cost });
      for (const [name, value] of rateLimitHeaders(d, base, style, policy)) res.setHeader(name, value);
      if (!d.allowed) {
        if (opts.onDenied !== undefined) {
          await opts.onDenied(req, res, d);
          return;
        }
        if (d.retryAfterMs >= 0) res.status(429).send(DENIED_BODY);
        else res.status(opts.neverStatus ?? 413).send(NEVER_BODY);
        return;
      }
      const when = opts.refundWhen;
      if (when !== undefined && d.source === 'server') {
        refund = () => {
          if (when(req, res)) limiter.refund(key, cost).catch(() => undefined);
        };
      }
    } catch (e) {
      next(e);
      return;
    }
    if (refund !== undefined) res.once('finish', refund);
    next();
  };
}
