// An Express app rate limited with the redis-ratelimit package: the middleware on two routes
// (per client IP, draft-8 RateLimit headers, 429 with Retry-After) and RateLimiter.check for a
// limit that costs more than one unit per request.
// Needs the package built (`make test-node`, or `cd clients/node && npm ci && npm run build`).
// Run: cd examples/node && npm ci && node app.mjs      then: curl -i http://127.0.0.1:3000/
// REDIS_URL says where and as whom (default: the app user of the repo's redis.conf on
// 127.0.0.1:6379); PORT where to listen (default 3000; 0 picks a free port).
import express from 'express';
import { createClient } from 'redis';
import { RateLimiter, expressRateLimit } from 'redis-ratelimit';

const redis = createClient({ url: process.env.REDIS_URL ?? 'redis://app:change-me-app-password@127.0.0.1:6379' });
redis.on('error', (err) => console.error('redis error', err.message));
await redis.connect();

// 5 requests a minute per client by default; if Redis is down, each process limits on its own.
const limiter = new RateLimiter(redis, {
  prefix: 'example:node:',
  limit: { algorithm: 'GCRA', limit: 5, period: '1m' },
  onUnavailable: 'local',
});

const app = express();
app.set('trust proxy', 'loopback'); // req.ip from X-Forwarded-For only when a local proxy sent it
app.get('/', expressRateLimit(limiter), (req, res) => res.send('hello\n'));
app.get('/login', expressRateLimit(limiter, { name: 'login', limit: { limit: 2, period: '1m' } }), (req, res) =>
  res.send('logged in\n'));
// An export costs one unit per row, out of 1000 rows an hour per client.
app.get('/export', async (req, res, next) => {
  try {
    const rows = Number(req.query.rows ?? 100);
    const d = await limiter.check(`export:${req.ip}`, { algorithm: 'TOKEN_BUCKET', limit: 1000, period: '1h', cost: rows });
    if (!d.allowed) {
      res.status(429).json({ error: 'export quota exceeded', retryAfterMs: d.retryAfterMs });
      return;
    }
    res.json({ rows, remaining: d.remaining });
  } catch (err) {
    next(err); // a bad argument (rows=0) or a server error
  }
});

const server = app.listen(Number(process.env.PORT ?? 3000), '127.0.0.1', () =>
  console.log(`listening on http://127.0.0.1:${server.address().port}`));
process.once('SIGTERM', () => server.close(() => redis.quit().then(() => console.log('stopped'))));
