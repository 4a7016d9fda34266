// The drop-ins with the real peer libraries: express-rate-limit with our Store, and RateLimiterRL
// beside rate-limiter-flexible's own RateLimiterRedis on the same server.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import express from 'express';
import { rateLimit, MemoryStore } from 'express-rate-limit';
import { RateLimiterRedis } from 'rate-limiter-flexible';
import { RateLimiter, ExpressRateLimitStore, RateLimiterRL, RateLimiterRes } from 'redis-ratelimit';
import { FLAVOURS, closeClient } from './support/clients.mjs';
import { Server, sleep } from './support/servers.mjs';

let server;
let io;
let limiter;
before(async () => {
  server = await new Server('redis').start();
  io = await FLAVOURS.ioredis(server.port);
  // Generous timeout, and no silent fallback: a slow machine must fail loudly, not admit.
  limiter = new RateLimiter(io, { timeout: 5000, onUnavailable: 'throw' });
});
after(async () => {
  await closeClient(io);
  await server.stop();
});

async function serve(mw, handler = (req, res) => res.send('ok')) {
  const app = express();
  app.get('/', mw, handler);
  const s = await new Promise((r) => { const x = app.listen(0, '127.0.0.1', () => r(x)); });
  return { base: `http://127.0.0.1:${s.address().port}/`, close: () => new Promise((r) => s.close(r)) };
}

async function statuses(base, n) {
  const out = [];
  for (let i = 0; i < n; i++) {
    const r = await fetch(base);
    out.push([r.status, r.headers.get('ratelimit')]);
  }
  return out;
}

describe('express-rate-limit Store', () => {
  test('behaves like the memory store for a numeric limit, but denied hits are not counted', async () => {
    const opts = { windowMs: 3_600_000, limit: 3, standardHeaders: 'draft-7', legacyHeaders: false };
    const ours = await serve(rateLimit({ ...opts, store: new ExpressRateLimitStore(limiter, { prefix: 'erl1:' }) }));
    const theirs = await serve(rateLimit({ ...opts, store: new MemoryStore() }));
    const a = await statuses(ours.base, 5);
    const b = await statuses(theirs.base, 5);
    await ours.close();
    await theirs.close();
    assert.deepEqual(a.map((x) => x[0]), [200, 200, 200, 429, 429]);
    assert.deepEqual(a.map((x) => x[0]), b.map((x) => x[0]));
    const remaining = (rows) => rows.map((x) => /remaining=(\d+)/.exec(x[1])[1]);
    assert.deepEqual(remaining(a), remaining(b));
    const key = (await io.keys('erl1:*'))[0];
    const insp = await limiter.inspect(key);
    assert.deepEqual([insp.algorithm, insp.admitted, insp.denied], ['FIXED_WINDOW', 3, 2]);
  });

  test('skipSuccessfulRequests refunds through decrement', async () => {
    let fail = false;
    const store = new ExpressRateLimitStore(limiter, { prefix: 'erl2:' });
    const app = await serve(rateLimit({ windowMs: 3_600_000, limit: 2, skipSuccessfulRequests: true, store }),
      (req, res) => res.status(fail ? 500 : 200).send('x'));
    const ok = await statuses(app.base, 4);
    await sleep(50);
    fail = true;
    const failed = await statuses(app.base, 3);
    await app.close();
    assert.deepEqual(ok.map((x) => x[0]), [200, 200, 200, 200]);
    assert.deepEqual(failed.map((x) => x[0]), [500, 500, 429]);
  });

  test('a limit function: the store counts and express-rate-limit decides; resetKey works', async () => {
    const store = new ExpressRateLimitStore(limiter, { prefix: 'erl3:' });
    const mw = rateLimit({ windowMs: 3_600_000, limit: () => 2, store });
    const app = await serve(mw);
    assert.deepEqual((await statuses(app.base, 3)).map((x) => x[0]), [200, 200, 429]);
    const info = await store.get('127.0.0.1');
    assert.equal(info.totalHits, 3, 'counting mode counts every hit, as the memory store does');
    assert.ok(info.resetTime > new Date());
    await mw.resetKey('127.0.0.1');
    assert.equal(await store.get('127.0.0.1'), undefined);
    assert.deepEqual((await statuses(app.base, 1)).map((x) => x[0]), [200]);
    await app.close();
  });
});

describe('RateLimiterRL (rate-limiter-flexible interface)', () => {
  // Scenarios ported from rate-limiter-flexible's own RateLimiterRedis tests, against the module.
  // Their 5 s durations become an hour where a test reads the key back: our windows are aligned to
  // the epoch, so a 5 s window may end between the consume and the read.
  const make = (o) => new RateLimiterRL({ storeClient: io, timeout: 5000, ...o });

  test('consume 1 point', async () => {
    const rl = make({ points: 2, duration: 3600 });
    const res = await rl.consume('consume1');
    assert.ok(res instanceof RateLimiterRes);
    assert.deepEqual([res.consumedPoints, res.remainingPoints, res.isFirstInDuration], [1, 1, true]);
    assert.equal((await rl.get('consume1')).consumedPoints, 1);
  });

  test('rejected when consume more than maximum points', async () => {
    const rl = make({ points: 1, duration: 5 });
    await assert.rejects(rl.consume('consume2', 2), (rej) => rej instanceof RateLimiterRes && rej.msBeforeNext >= 0);
  });

  test('makes penalty; reward points', async () => {
    const rl = make({ points: 3, duration: 3600 });
    await rl.consume('penalty1');
    await rl.penalty('penalty1');
    assert.equal((await rl.get('penalty1')).consumedPoints, 2);
    const one = make({ points: 1, duration: 3600 });
    await one.consume('reward');
    await one.reward('reward');
    assert.equal((await one.get('reward')).consumedPoints, 0);
  });

  test('use keyPrefix from options', () => {
    assert.equal(make({ keyPrefix: 'test' }).getKey('key'), 'test:key');
    assert.equal(make({}).parseKey('rlflx:abc'), 'abc');
  });

  test('blocks key for block duration when consumed more than points; the block expires', async () => {
    // GCRA: the second consume is denied however the two fall across a second boundary.
    const rl = make({ points: 1, duration: 1, blockDuration: 2, algorithm: 'GCRA' });
    await assert.rejects(rl.consume('block', 1).then(() => rl.consume('block', 1)), (rej) => rej.msBeforeNext > 1000);
    const started = Date.now();
    await sleep(2000);
    const res = await rl.consume('block');
    assert.ok(Date.now() - started >= 2000);
    assert.equal(res.consumedPoints, 1);
  });

  test('block custom key; get; delete', async () => {
    const rl = make({ points: 1, duration: 1 });
    await rl.block('blockcustom', 2);
    await assert.rejects(rl.consume('blockcustom'), (rej) => rej.msBeforeNext > 1000);
    assert.equal((await rl.get('blockcustom')).remainingPoints, 0);
    assert.equal(await rl.get('never-seen'), null);
    assert.equal(await rl.delete('blockcustom'), true);
    assert.equal(await rl.delete('blockcustom'), false);
    assert.equal((await rl.consume('blockcustom')).consumedPoints, 1);
  });

  test('set the consumed points', async () => {
    const rl = make({ points: 5, duration: 3600 });
    const res = await rl.set('setkey', 3);
    assert.deepEqual([res.consumedPoints, res.remainingPoints], [3, 2]);
  });

  test('throws error on Redis client error', async () => {
    const broken = await FLAVOURS.ioredis(server.port);
    await broken.disconnect();
    const rl = new RateLimiterRL({ storeClient: broken, points: 2, duration: 1 });
    await assert.rejects(rl.consume('rediserror'), (e) => e instanceof Error && !(e instanceof RateLimiterRes));
  });

  test('side by side with rate-limiter-flexible\'s RateLimiterRedis: the same decisions', async () => {
    const theirs = new RateLimiterRedis({ storeClient: io, points: 3, duration: 60, keyPrefix: 'theirs' });
    const ours = make({ points: 3, duration: 60, keyPrefix: 'ours' });
    const run = async (rl) => {
      const out = [];
      for (let i = 0; i < 5; i++) {
        try {
          const r = await rl.consume('side');
          out.push(['ok', r.remainingPoints, r.consumedPoints]);
        } catch (r) {
          out.push(['rejected', r.remainingPoints, r.consumedPoints]);
        }
      }
      return out;
    };
    const a = await run(theirs);
    const b = await run(ours);
    assert.deepEqual(b.map((x) => x.slice(0, 2)), a.map((x) => x.slice(0, 2)));
    assert.deepEqual(a.map((x) => x[2]), [1, 2, 3, 4, 5], 'theirs counts rejected points');
    assert.deepEqual(b.map((x) => x[2]), [1, 2, 3, 4, 4], 'ours charges nothing for a rejection');
    assert.equal((await theirs.get('side')).consumedPoints, 5);
    assert.equal((await ours.get('side')).consumedPoints, 3);
  });
});
