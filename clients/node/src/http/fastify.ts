import type { RateLimiter } from '../limiter.js';
import type { NormalLimit } from '../limit.js';
import { rateLimitHeaders } from './headers.js';
import { DEFAULT_HEADERS, DENIED_BODY, NEVER_BODY, keyPrefix, requestCost, requestKey, type HttpOptions } from './options.js';

/** The parts of Fastify's request, reply and instance the plugin uses (Fastify 4.10+ and 5). */
export interface FastifyRequestLike {
  ip?: string;
  headers: Record<string, string | string[] | undefined>;
  routeOptions?: { url?: string; config?: { rateLimit?: FastifyRouteRateLimit | false } };
}
export interface FastifyReplyLike {
  statusCode: number;
  header(name: string, value: string): unknown;
  code(status: number): FastifyReplyLike;
  send(body?: unknown): unknown;
}
interface FastifyLike {
  addHook(name: 'onRequest', hook: (req: FastifyRequestLike, reply: FastifyReplyLike) => Promise<unknown>): unknown;
  addHook(name: 'onResponse', hook: (req: FastifyRequestLike, reply: FastifyReplyLike) => Promise<void>): unknown;
}

/** A route's own limit, in its options: `{ config: { rateLimit: { limit: { limit: 5, period: '1m' } } } }`, or false. */
export type FastifyRouteRateLimit = HttpOptions<FastifyRequestLike, FastifyReplyLike>;

export interface FastifyRateLimitOptions extends FastifyRouteRateLimit {
  limiter: RateLimiter;
}

const PENDING_REFUND = Symbol('redis-ratelimit refund');
type WithRefund = FastifyRequestLike & { [PENDING_REFUND]?: (reply: FastifyReplyLike) => void };

/**
 * The Fastify plugin: register it once (`app.register(fastifyRateLimit, { limiter, ... })`) and every
 * route in that scope is limited; a route's `config.rateLimit` overrides the options (its keys get the
 * route's URL in their `name` unless it gives one), and `config.rateLimit: false` exempts it.
 */
function plugin(fastify: FastifyLike, opts: FastifyRateLimitOptions, done: (err?: Error) => void): void {
  const { limiter } = opts;
  const resolved = new WeakMap<object, { o: FastifyRouteRateLimit; base: NormalLimit }>();
  const global = { o: opts as FastifyRouteRateLimit, base: limiter.resolve(opts.limit) };
  const forRoute = (req: FastifyRequestLike): { o: FastifyRouteRateLimit; base: NormalLimit } | undefined => {
    const own = req.routeOptions?.config?.rateLimit;
    if (own === false) return undefined;
    if (own === undefined) return global;
    let r = resolved.get(own);
    if (r === undefined) {
      // A route's own limit must not share keys with the scope's: its URL joins the name.
      const url = req.routeOptions?.url ?? '';
      const name = own.name ?? (opts.name === undefined ? url : `${opts.name}:${url}`);
      const o = { ...opts, ...own, limit: { ...opts.limit, ...own.limit }, name };
      r = { o, base: limiter.resolve(o.limit) };
      resolved.set(own, r);
    }
    return r;
  };

  fastify.addHook('onRequest', async (req: WithRefund, reply) => {
    const r = forRoute(req);
    if (r === undefined) return;
    const { o, base } = r;
    if (o.skip !== undefined && (await o.skip(req))) return;
    const key = await requestKey(req, o.key ?? 'ip', keyPrefix(o));
    if (key === undefined) return;
    const cost = requestCost(req, o.cost);
    const d = await limiter.check(key, cost === 1 ? o.limit : { ...o.limit, cost });
    for (const [name, value] of rateLimitHeaders(d, base, o.headers ?? DEFAULT_HEADERS, o.policyName ?? o.name ?? 'default')) {
      reply.header(name, value);
    }
    if (!d.allowed) {
      if (o.onDenied !== undefined) return o.onDenied(req, reply, d);
      return d.retryAfterMs >= 0 ? reply.code(429).send(DENIED_BODY) : reply.code(o.neverStatus ?? 413).send(NEVER_BODY);
    }
    const when = o.refundWhen;
    if (when !== undefined && d.source === 'server') {
      req[PENDING_REFUND] = (rep) => {
        if (when(req, rep)) limiter.refund(key, cost).catch(() => undefined);
      };
    }
    return undefined;
  });
  fastify.addHook('onResponse', async (req: WithRefund, reply) => {
    req[PENDING_REFUND]?.(reply);
    return Promise.resolve();
  });
  done();
}

/** What fastify-plugin would mark: the hooks apply to the scope that registers it, not a child. */
export const fastifyRateLimit = Object.assign(plugin, {
  [Symbol.for('skip-override')]: true,
  [Symbol.for('fastify.display-name')]: 'redis-ratelimit',
});
