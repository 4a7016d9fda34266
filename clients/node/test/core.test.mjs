// Every command through every supported client, on Redis 7.0 and Valkey 9: the same typed results.
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { after, before, describe, test } from 'node:test';
import { RateLimiter, ArgumentError, ServerError, ALGORITHMS } from 'redis-ratelimit';
import { FLAVOURS, closeClient } from './support/clients.mjs';
import { Server } from './support/servers.mjs';

const DECISION_FIELDS = ['allowed', 'limit', 'remaining', 'retryAfterMs', 'resetAfterMs', 'source'];

for (const kind of ['redis', 'valkey']) {
  describe(`${kind}`, () => {
    let server;
    before(async () => {
      server = await new Server(kind).start();
    });
    after(() => server.stop());

    for (const [flavour, connect] of Object.entries(FLAVOURS)) {
      describe(flavour, () => {
        let client;
        let rl;
        const k = (name) => `${flavour}:${name}`;
        before(async () => {
          client = await connect(server.port);
          rl = new RateLimiter(client, { timeout: 5000, onUnavailable: 'throw' });
        });
        after(() => closeClient(client));

        test('each algorithm admits its limit, then denies with a retry time', async () => {
          for (const algorithm of ALGORITHMS.filter((a) => a !== 'CALENDAR')) {
            const limit = { algorithm, limit: 3, period: '1h' };
            const seen = [];
            for (let i = 0; i < 3; i++) seen.push(await rl.check(k(algorithm), limit));
            assert.deepEqual(seen.map((d) => [d.allowed, d.remaining, d.retryAfterMs]), [
              [true, 2, -1], [true, 1, -1], [true, 0, -1],
            ], algorithm);
            const denied = await rl.check(k(algorithm), limit);
            assert.deepEqual(Object.keys(denied).sort(), [...DECISION_FIELDS].sort());
            assert.equal(denied.allowed, false, algorithm);
            assert.equal(denied.limit, 3);
            assert.equal(denied.source, 'server');
            // SLIDING_WINDOW waits for the previous window's weight to fall, and rests only when it stops
            // counting: up to two periods.
            assert.ok(denied.retryAfterMs > 0 && denied.retryAfterMs <= 7_200_000, `${algorithm} ${denied.retryAfterMs}`);
            assert.ok(denied.resetAfterMs > 0 && denied.resetAfterMs <= 7_200_000, `${algorithm} ${denied.resetAfterMs}`);
          }
        });

        test('a calendar quota and a penalty block', async () => {
          const day = { algorithm: 'CALENDAR', limit: 2, period: 'day', utcOffset: 60 };
          assert.equal((await rl.check(k('cal'), day)).remaining, 1);
          assert.equal((await rl.check(k('cal'), day)).remaining, 0);
          const denied = await rl.check(k('cal'), day);
          assert.equal(denied.allowed, false);
          assert.ok(denied.retryAfterMs > 0 && denied.retryAfterMs <= 86_400_000);
          assert.equal((await rl.inspect(k('cal'))).unit, 'DAY');
          const limit = { algorithm: 'GCRA', limit: 1, period: '1h', block: '1m' };
          await rl.check(k('blocked'), limit);
          const blocked = await rl.check(k('blocked'), limit);
          assert.ok(blocked.retryAfterMs >= 59_000, String(blocked.retryAfterMs));
          await rl.block(k('banned'), '30s');
          const banned = await rl.check(k('banned'), { algorithm: 'FIXED_WINDOW', limit: 100, period: '1s' });
          assert.equal(banned.allowed, false);
          assert.ok(banned.retryAfterMs > 20_000 && banned.retryAfterMs <= 30_000, String(banned.retryAfterMs));
          assert.ok((await rl.inspect(k('banned'))).blockedMs > 20_000);
        });

        test('server policies: administration, { policy, cost } checks, shadow mode', async () => {
          const name = `tier.${flavour.replace(/[^A-Za-z0-9]+/g, '-')}`;
          const version = await rl.policySet(name, { limits: [
            { algorithm: 'FIXED_WINDOW', limit: 3, period: '1h' },
            { algorithm: 'GCRA', limit: 100, period_ms: 1000 },
          ] });
          assert.ok(Number.isInteger(version) && version > 0);
          const got = await rl.policyGet(name);
          assert.equal(got.limits.length, 2);
          assert.equal(got.version, version);
          assert.ok((await rl.policyList()).includes(name));
          assert.match(await rl.policyDigest(), /^[0-9a-f]{32}$/);
          const resp3 = flavour.includes('RESP3');
          const a = await rl.check(k('pol'), { policy: name, cost: 2 });
          assert.deepEqual([a.allowed, a.limit, a.remaining], [true, 3, 1]);
          const b = await rl.check(k('pol'), { policy: name, cost: 2 });
          assert.equal(b.allowed, false);
          assert.ok(b.retryAfterMs > 0);
          assert.equal(b.decidedBy, resp3 ? 1 : undefined, 'decided_by comes with RESP3 only');
          const p = await rl.peek(k('pol'), { policy: name, cost: 0 });
          assert.equal(p.remaining, 1);
          for (let i = 0; i < 3; i++) await rl.check(k('shadow'), { policy: name, shadow: true, cost: 2 });
          const s = await rl.check(k('shadow'), { policy: name, shadow: true, cost: 2 });
          assert.equal(s.allowed, true, 'shadow mode admits');
          if (resp3) assert.equal(s.shadowDenied, 1);
          await assert.rejects(rl.check(k('pol'), { policy: 'no.such.policy' }), (e) => e instanceof ServerError && /no such policy/.test(e.message));
          await assert.rejects(rl.check(k('pol'), { policy: 'bad name!' }), ArgumentError);
          await assert.rejects(rl.peek(k('pol'), { policy: name, shadow: true }), ArgumentError);
          assert.equal(await rl.policyDel(name), true);
          assert.equal(await rl.policyDel(name), false);
          assert.equal(await rl.policyGet(name), null);
        });

        test('a lowercase algorithm, a bare-ms period and a default limit work', async () => {
          const mine = new RateLimiter(client, { limit: { algorithm: 'gcra', limit: 10, period: 3_600_000 }, prefix: 'p:' });
          const d = await mine.check(k('default'));
          assert.equal(d.remaining, 9);
          assert.ok(d.resetAfterMs > 0 && d.resetAfterMs <= 360_000);
          const insp = await rl.inspect(`p:${k('default')}`);
          assert.equal(insp.algorithm, 'GCRA');
          assert.equal(insp.periodMs, 3_600_000);
          assert.equal(insp.period, '1h');
          const bigger = await mine.check(k('default'), { cost: 4 });
          assert.equal(bigger.remaining, 5);
        });

        test('peek charges nothing; cost 0 gives the quota left', async () => {
          const limit = { algorithm: 'TOKEN_BUCKET', limit: 5, period: '1m' };
          await rl.check(k('peek'), { ...limit, cost: 2 });
          const p = await rl.peek(k('peek'), { ...limit, cost: 0 });
          assert.deepEqual([p.allowed, p.remaining, p.retryAfterMs], [true, 3, -1]);
          await rl.peek(k('peek'), limit);
          assert.equal((await rl.inspect(k('peek'))).admitted, 2);
        });

        test('a cost above the burst can never be admitted: retryAfterMs -1', async () => {
          const d = await rl.check(k('huge'), { algorithm: 'GCRA', limit: 5, period: '1s', cost: 6 });
          assert.deepEqual([d.allowed, d.retryAfterMs], [false, -1]);
        });

        test('atMost grants what is available, up to the cost', async () => {
          const limit = { algorithm: 'TOKEN_BUCKET', limit: 5, period: '1h', cost: 3, atMost: true };
          const grants = [];
          for (let i = 0; i < 3; i++) grants.push(await rl.check(k('atmost'), limit));
          assert.deepEqual(grants.map((d) => [d.allowed, d.granted]), [[true, 3], [true, 2], [false, 0]]);
          assert.ok(grants[2].retryAfterMs > 0);
        });

        test('mcheck is all or nothing', async () => {
          const a = k('{m}:a');
          const b = k('{m}:b');
          const group = [
            { key: a, limit: { algorithm: 'FIXED_WINDOW', limit: 10, period: '1h' } },
            { key: b, limit: { algorithm: 'GCRA', limit: 1, period: '1h' } },
          ];
          const first = await rl.mcheck(group);
          assert.equal(first.allowed, true);
          assert.equal(first.retryAfterMs, -1);
          assert.deepEqual(first.results.map((r) => r.remaining), [9, 0]);
          const second = await rl.mcheck(group);
          assert.equal(second.allowed, false);
          assert.ok(second.retryAfterMs > 0);
          assert.deepEqual(second.results.map((r) => r.allowed), [true, false]);
          assert.equal((await rl.inspect(a)).admitted, 1, 'the denied group charged nothing');
        });

        test('refund gives back what was charged; reset removes the key', async () => {
          const limit = { algorithm: 'FIXED_WINDOW', limit: 2, period: '1h' };
          await rl.check(k('refund'), limit);
          await rl.check(k('refund'), limit);
          assert.equal((await rl.check(k('refund'), limit)).allowed, false);
          assert.equal(await rl.refund(k('refund'), 1), 1);
          assert.equal((await rl.check(k('refund'), limit)).allowed, true);
          assert.equal(await rl.refund(k('missing')), 0);
          assert.equal(await rl.reset(k('refund'), k('missing')), 1);
          assert.equal(await rl.inspect(k('refund')), null);
        });

        test('leases: acquire, deny, renew, release', async () => {
          const first = await rl.acquire(k('lease'), { limit: 1, lease: '30s' });
          assert.equal(first.acquired, true);
          assert.match(first.leaseId, /^[0-9a-f]{16}$/);
          const second = await rl.acquire(k('lease'), { limit: 1, lease: 30_000 });
          assert.deepEqual([second.acquired, second.leaseId], [false, null]);
          assert.ok(second.retryAfterMs > 0 && second.retryAfterMs <= 30_000);
          assert.equal(await rl.renew(k('lease'), first.leaseId, '1m'), true);
          assert.equal(await rl.release(k('lease'), first.leaseId), 1);
          assert.equal(await rl.release(k('lease'), first.leaseId), 0);
          assert.equal(await rl.renew(k('lease'), first.leaseId, '1m'), false);
          const held = (await rl.inspect(k('lease')));
          assert.equal(held, null, 'the last release removes the key');
        });

        test('server refusals become ServerError; argument errors ArgumentError', async () => {
          await client.set(k('str'), 'x');
          await assert.rejects(rl.check(k('str'), { algorithm: 'GCRA', limit: 1, period: '1s' }),
            (e) => e instanceof ServerError && e.code === 'WRONGTYPE');
          await rl.check(k('algo'), { algorithm: 'GCRA', limit: 1, period: '1s' });
          await assert.rejects(rl.check(k('algo'), { algorithm: 'FIXED_WINDOW', limit: 1, period: '1s' }),
            (e) => e instanceof ServerError && /another algorithm/.test(e.message));
          // Only the server knows its sliding-log cap (ratelimit.sliding-log-max-limit).
          await assert.rejects(rl.check(k('log'), { algorithm: 'SLIDING_LOG', limit: 1_000_000, period: '1s' }),
            (e) => e instanceof ArgumentError && /argument 3 \(limit\)/.test(e.message));
        });
      });
    }

    test('invalid arguments are refused before the network', async () => {
      const sent = [];
      const rl = new RateLimiter({ send: async (...a) => sent.push(a) });
      const bad = [
        [{ algorithm: 'LEAKY', limit: 1, period: '1s' }, /algorithm/],
        [{ algorithm: 'GCRA', limit: 0, period: '1s' }, /limit/],
        [{ algorithm: 'GCRA', limit: 1.5, period: '1s' }, /limit/],
        [{ algorithm: 'GCRA', limit: 1, period: '1.5s' }, /period/],
        [{ algorithm: 'GCRA', limit: 1, period: '1min' }, /period/],
        [{ algorithm: 'GCRA', limit: 1, period: 0 }, /period/],
        [{ algorithm: 'FIXED_WINDOW', limit: 1, period: '1s', burst: 2 }, /burst/],
        [{ algorithm: 'GCRA', limit: 1, period: '1s', cost: 0 }, /cost/],
        [{ algorithm: 'SLIDING_WINDOW', limit: 1, period: '1s', cost: 2, atMost: true }, /atMost/],
        [{ algorithm: 'SLIDING_LOG', limit: 1, period: '50d' }, /period/],
        [{ algorithm: 'CALENDAR', limit: 1, period: '1d' }, /DAY, WEEK or MONTH/],
        [{ algorithm: 'CALENDAR', limit: 1, period: 'DAY', utcOffset: 2000 }, /utcOffset/],
        [{ algorithm: 'GCRA', limit: 1, period: '1s', utcOffset: 60 }, /utcOffset/],
        [{ algorithm: 'GCRA', limit: 1, period: '1s', block: '1.5s' }, /block/],
      ];
      for (const [limit, re] of bad) {
        await assert.rejects(rl.check('k', limit), (e) => e instanceof ArgumentError && re.test(e.message), JSON.stringify(limit));
      }
      await assert.rejects(rl.check(42, { algorithm: 'GCRA', limit: 1, period: '1s' }), ArgumentError);
      await assert.rejects(rl.check('k'), /no limit given/);
      await assert.rejects(rl.release('k', 'not-an-id'), ArgumentError);
      await assert.rejects(rl.mcheck([]), ArgumentError);
      assert.throws(() => new RateLimiter({ send: async () => 0 }, { onUnavailable: 'maybe' }), ArgumentError);
      assert.equal(sent.length, 0);
    });
  });
}

test('the CommonJS build is the same package', async () => {
  const require = createRequire(import.meta.url);
  const cjs = require('redis-ratelimit');
  assert.equal(typeof cjs.RateLimiter, 'function');
  assert.notEqual(cjs.RateLimiter, RateLimiter, 'require gets the CJS build, import the ESM one');
  const d = await new cjs.RateLimiter({ send: async () => [1, 5, 4, -1, 200] }).check('k', { algorithm: 'GCRA', limit: 5, period: '1s' });
  assert.deepEqual(d, { allowed: true, limit: 5, remaining: 4, retryAfterMs: -1, resetAfterMs: 200, source: 'server' });
});
