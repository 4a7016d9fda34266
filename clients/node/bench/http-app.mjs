// One Express app of the HTTP benchmark, in its own process: `node http-app.mjs <variant> <redis port>`
// prints "port <n>" once listening. Every variant admits everything (a limit no run reaches) and
// sends its RateLimit headers, so the rows differ only in the limiter.
import express from 'express';
import { rateLimit } from 'express-rate-limit';
import { Redis } from 'ioredis';
import { RateLimiterRedis } from 'rate-limiter-flexible';
import { RedisStore } from 'rate-limit-redis';
import { createClient } from 'redis';
import { RateLimiter, expressRateLimit } from '../dist/esm/index.js';

const [variant, redisPort] = process.argv.slice(2);
const LIMIT = 1_000_000_000;
const app = express();

if (variant === 'redis-ratelimit') {
  const redis = await createClient({ url: `redis://127.0.0.1:${redisPort}` }).connect();
  const limiter = new RateLimiter(redis, { timeout: 1000, limit: { algorithm: 'FIXED_WINDOW', limit: LIMIT, period: '1h' } });
  app.use(expressRateLimit(limiter));
} else if (variant === 'express-rate-limit') {
  const redis = await createClient({ url: `redis://127.0.0.1:${redisPort}` }).connect();
  app.use(rateLimit({ windowMs: 3_600_000, limit: LIMIT, standardHeaders: 'draft-8', legacyHeaders: false, validate: false,
    store: new RedisStore({ sendCommand: (...args) => redis.sendCommand(args) }) }));
} else if (variant === 'rate-limiter-flexible') {
  const redis = new Redis({ port: Number(redisPort), host: '127.0.0.1' });
  const limiter = new RateLimiterRedis({ storeClient: redis, points: LIMIT, duration: 3600 });
  // Its documented Express pattern: consume, set the headers, 429 on rejection.
  app.use((req, res, next) => {
    limiter.consume(req.ip).then((r) => {
      res.setHeader('RateLimit', `"default";r=${r.remainingPoints};t=${Math.ceil(r.msBeforeNext / 1000)}`);
      next();
    }, (r) => {
      res.setHeader('Retry-After', String(Math.ceil(r.msBeforeNext / 1000)));
      res.status(429).send('Too Many Requests');
    });
  });
} else {
  throw new Error(`unknown variant ${variant}`);
}
app.get('/', (req, res) => res.send('hello'));
const server = app.listen(0, '127.0.0.1', () => console.log(`port ${server.address().port}`));
process.once('SIGTERM', () => process.exit(0));
