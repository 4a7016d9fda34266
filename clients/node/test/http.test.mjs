// The Express middleware and the Fastify plugin over real HTTP, on a real server with the module.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import express from 'express';
import Fastify from 'fastify';
import { RateLimiter, expressRateLimit, fastifyRateLimit } from 'redis-ratelimit';
import { FLAVOURS, closeClient } from './support/clients.mjs';
import { Server, sleep } from './support/servers.mjs';

let server;
let client;
let limiter;
before(async () => {
  server = await new Server('redis').start();
  client = await FLAVOURS['node-redis 5 (RESP3)'](server.port);
  limiter = new RateLimiter(client, { timeout: 5000, onUnavailable: 'throw', limit: { algorithm: 'FIXED_WINDOW', limit: 3, period: '1h' } });
});
after(async () => {
  await closeClient(client);
  await server.stop();
});

async function listen(app) {
  return new Promise((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
}

const get = (base, path, headers = {}) => fetch(base + path, { headers });

describe('Express', () => {
  let http;
  let base;
  let failing = false;
  before(async () => {
    const app = express();
    app.set('trust proxy', 1);
    app.get('/health', expressRateLimit(limiter, { name: 'h', skip: (req) => req.path === '/health' }), (req, res) => res.send('ok'));
    app.get('/login', expressRateLimit(limiter, { name: 'login', limit: { limit: 1, period: '1500ms', algorithm: 'GCRA' } }),
      (req, res) => res.send('in'));
    app.get('/api', expressRateLimit(limiter, { name: 'api', key: { header: 'x-api-key' } }), (req, res) => res.send('api'));
    app.get('/failures', expressRateLimit(limiter, { name: 'fail', refundWhen: (req, res) => res.statusCode < 400 }),
      (req, res) => res.status(failing ? 500 : 200).send('x'));
    app.get('/custom', expressRateLimit(limiter, {
      name: 'custom', limit: { limit: 1 }, headers: 'draft-6',
      onDenied: (req, res, d) => res.status(429).json({ wait: d.retryAfterMs > 0 }),
    }), (req, res) => res.send('x'));
    app.get('/big', expressRateLimit(limiter, { name: 'big', cost: 5 }), (req, res) => res.send('x'));
    app.get('/d7', expressRateLimit(limiter, { name: 'd7', headers: 'draft-7' }), (req, res) => res.send('x'));
    app.get('/fn', expressRateLimit(limiter, { name: 'fn', limit: { limit: 1 }, key: (req) => req.query.user }),
      (req, res) => res.send('x'));
    app.get('/', expressRateLimit(limiter), (req, res) => res.send('hello'));
    http = await listen(app);
    base = `http://127.0.0.1:${http.address().port}`;
  });
  after(() => new Promise((r) => http.close(r)));

  test('keys by client IP through the trusted proxy; draft-8 headers by default; 429 with Retry-After', async () => {
    const xff = { 'x-forwarded-for': '203.0.113.7' };
    const replies = [];
    for (let i = 0; i < 4; i++) replies.push(await get(base, '/', xff));
    assert.deepEqual(replies.map((r) => r.status), [200, 200, 200, 429]);
    assert.equal(replies[0].headers.get('ratelimit-policy'), '"default";q=3;w=3600');
    assert.match(replies[0].headers.get('ratelimit'), /^"default";r=2;t=\d+$/);
    assert.equal(replies[0].headers.get('ratelimit-limit'), null, 'no draft-6 fields');
    const reset = Number(/t=(\d+)/.exec(replies[0].headers.get('ratelimit'))[1]);
    assert.ok(reset >= 1 && reset <= 3600);
    const retry = Number(replies[3].headers.get('retry-after'));
    assert.ok(retry >= 1 && retry <= 3600, String(retry));
    assert.equal(replies[0].headers.get('retry-after'), null);
    assert.equal(await replies[3].text(), 'Too Many Requests');
    // Another client behind the same proxy has its own budget.
    assert.equal((await get(base, '/', { 'x-forwarded-for': '203.0.113.8' })).status, 200);
    assert.notEqual(await limiter.inspect('rl:http:ip:203.0.113.7'), null);
  });

  test('Retry-After is rounded up to whole seconds; per-route limits are separate', async () => {
    const h = { 'x-forwarded-for': '198.51.100.1' };
    assert.equal((await get(base, '/login', h)).status, 200);
    const denied = await get(base, '/login', h);
    assert.equal(denied.status, 429);
    assert.equal(denied.headers.get('retry-after'), '2', '1500 ms (less the time taken) rounds up to 2 s');
    assert.equal((await get(base, '/', h)).status, 200, 'the / route has its own budget');
  });

  test('draft-7 stays selectable', async () => {
    const r = await get(base, '/d7', { 'x-forwarded-for': '203.0.113.9' });
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('ratelimit-policy'), '3;w=3600');
    assert.match(r.headers.get('ratelimit'), /^limit=3, remaining=2, reset=\d+$/);
  });

  test('API-key header, or the client IP without it; skip; a cost that can never fit is 413 without Retry-After', async () => {
    for (let i = 0; i < 3; i++) assert.equal((await get(base, '/api', { 'x-api-key': 'alpha' })).status, 200);
    assert.equal((await get(base, '/api', { 'x-api-key': 'alpha' })).status, 429);
    assert.equal((await get(base, '/api', { 'x-api-key': 'beta' })).status, 200);
    // Without the header a request counts against its IP: leaving it off is no way around the limit.
    const bare = { 'x-forwarded-for': '198.51.100.77' };
    const noKey = [];
    for (let i = 0; i < 4; i++) noKey.push((await get(base, '/api', bare)).status);
    assert.deepEqual(noKey, [200, 200, 200, 429]);
    assert.notEqual(await limiter.inspect('rl:http:api:ip:198.51.100.77'), null);
    assert.equal((await get(base, '/api', { ...bare, 'x-api-key': '' })).status, 429, 'an empty header is no key either');
    assert.equal((await get(base, '/api', { ...bare, 'x-api-key': 'gamma' })).status, 200);
    for (let i = 0; i < 5; i++) {
      const r = await get(base, '/health');
      assert.equal(r.status, 200);
      assert.equal(r.headers.get('ratelimit'), null);
    }
    const big = await get(base, '/big');
    assert.equal(big.status, 413);
    assert.equal(big.headers.get('retry-after'), null);
  });

  test('a key function returning undefined lets the request through uncounted', async () => {
    assert.equal((await get(base, '/fn?user=u1')).status, 200);
    assert.equal((await get(base, '/fn?user=u1')).status, 429);
    for (let i = 0; i < 3; i++) {
      const r = await get(base, '/fn');
      assert.equal(r.status, 200);
      assert.equal(r.headers.get('ratelimit'), null);
    }
  });

  test('refundWhen counts only failures; onDenied customises the denial', async () => {
    for (let i = 0; i < 5; i++) assert.equal((await get(base, '/failures')).status, 200);
    await sleep(50); // refunds are sent after the response
    failing = true;
    const statuses = [];
    for (let i = 0; i < 4; i++) statuses.push((await get(base, '/failures')).status);
    assert.deepEqual(statuses, [500, 500, 500, 429], 'the five successes were refunded');
    failing = false;
    assert.equal((await get(base, '/custom')).status, 200);
    const custom = await get(base, '/custom');
    assert.equal(custom.status, 429);
    assert.deepEqual(await custom.json(), { wait: true });
    assert.equal(custom.headers.get('ratelimit-limit'), '1');
    assert.equal(custom.headers.get('ratelimit-remaining'), '0');
  });

  test('without trust proxy, X-Forwarded-For is not believed', async () => {
    const app = express();
    app.get('/', expressRateLimit(limiter, { name: 'direct', limit: { limit: 2 } }), (req, res) => res.send('x'));
    const s = await listen(app);
    const b = `http://127.0.0.1:${s.address().port}`;
    const codes = [];
    for (let i = 0; i < 3; i++) codes.push((await get(b, '/', { 'x-forwarded-for': `192.0.2.${i}` })).status);
    await new Promise((r) => s.close(r));
    assert.deepEqual(codes, [200, 200, 429]);
  });
});

describe('Fastify', () => {
  let app;
  let base;
  before(async () => {
    app = Fastify({ trustProxy: true });
    await app.register(fastifyRateLimit, { limiter, name: 'fy',
      refundWhen: (req, reply) => req.url === '/refunded' && reply.statusCode < 400 });
    app.get('/', async () => 'hello');
    app.get('/refunded', async () => 'free');
    app.get('/strict', { config: { rateLimit: { limit: { limit: 1 } } } }, async () => 'strict');
    app.get('/open', { config: { rateLimit: false } }, async () => 'open');
    await app.listen({ port: 0, host: '127.0.0.1' });
    base = `http://127.0.0.1:${app.server.address().port}`;
  });
  after(() => app.close());

  test('IP through trustProxy, draft-8 headers by default, 429 with Retry-After', async () => {
    const h = { 'x-forwarded-for': '203.0.113.50' };
    const r = [];
    for (let i = 0; i < 4; i++) r.push(await get(base, '/', h));
    assert.deepEqual(r.map((x) => x.status), [200, 200, 200, 429]);
    assert.equal(r[0].headers.get('ratelimit-policy'), '"fy";q=3;w=3600');
    assert.match(r[1].headers.get('ratelimit'), /^"fy";r=1;t=\d+$/);
    assert.ok(Number(r[3].headers.get('retry-after')) >= 1);
    assert.equal((await get(base, '/', { 'x-forwarded-for': '203.0.113.51' })).status, 200);
  });

  test('per-route config, exemption, refunds after the response', async () => {
    const h = { 'x-forwarded-for': '203.0.113.60' };
    assert.equal((await get(base, '/strict', h)).status, 200);
    assert.equal((await get(base, '/strict', h)).status, 429);
    assert.notEqual(await limiter.inspect('rl:http:fy:/strict:ip:203.0.113.60'), null, 'the route URL names its keys');
    for (let i = 0; i < 5; i++) {
      const o = await get(base, '/open', h);
      assert.equal(o.status, 200);
      assert.equal(o.headers.get('ratelimit'), null);
    }
    for (let i = 0; i < 6; i++) {
      assert.equal((await get(base, '/refunded', h)).status, 200);
      await sleep(10);
    }
  });
});
