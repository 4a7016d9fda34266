// Compiled (tsc --noEmit, strict) against the installed tarball's declarations, ESM and CJS
// resolution: the public types are what a TypeScript user writes against.
import { createClient } from 'redis';
import { Redis } from 'ioredis';
import {
  RateLimiter,
  ArgumentError,
  UnavailableError,
  expressRateLimit,
  fastifyRateLimit,
  ExpressRateLimitStore,
  RateLimiterRL,
  type Decision,
  type Limit,
} from 'redis-ratelimit';

const limit: Limit = { algorithm: 'GCRA', limit: 10, period: '1s', burst: 20 };

export async function demo(): Promise<number> {
  const nr = createClient();
  const io = new Redis();
  const a = new RateLimiter(nr, { limit, onUnavailable: 'local', breaker: { failures: 3 } });
  const b = new RateLimiter(io, { timeout: 20, denialCache: { maxKeys: 100 } });
  const d: Decision = await a.check('k');
  const m = await b.mcheck([{ key: '{u}:a', limit }, { key: '{u}:b', limit: { ...limit, cost: 2 } }]);
  const lease = await b.acquire('jobs', { limit: 2, lease: '30s' });
  if (lease.leaseId !== null) await b.release('jobs', lease.leaseId);
  const insp = await a.inspect('k');
  void expressRateLimit(a, { key: { header: 'x-api-key' }, refundWhen: (_req, res) => res.statusCode < 400 });
  void fastifyRateLimit;
  void new ExpressRateLimitStore(a);
  const rl = new RateLimiterRL({ storeClient: io, points: 5, duration: 1 });
  const res = await rl.consume('ip');
  try {
    await a.check('k', { cost: 0 });
  } catch (e) {
    if (e instanceof ArgumentError || e instanceof UnavailableError) return -1;
  }
  return d.remaining + m.retryAfterMs + (insp?.admitted ?? 0) + res.remainingPoints + (d.granted ?? 0);
}
