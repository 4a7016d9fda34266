// redis-ratelimit/config: per-environment files and RL_* variables validated with zod, and the
// server's policies created at start and updated when the file changes, on a real server.
import assert from 'node:assert/strict';
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { RateLimiter } from 'redis-ratelimit';
import { ConfigError, loadConfig, syncPolicies, watchConfig } from 'redis-ratelimit/config';
import { FLAVOURS, closeClient } from './support/clients.mjs';
import { Server, sleep } from './support/servers.mjs';

const dir = mkdtempSync(join(tmpdir(), 'rl-config-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
function writeConfig(obj, file = join(dir, `c${n++}.json`)) {
  // Written beside and renamed over, as deploy tools do: the watcher must survive it.
  writeFileSync(`${file}.tmp`, typeof obj === 'string' ? obj : JSON.stringify(obj, null, 2));
  renameSync(`${file}.tmp`, file);
  return file;
}

const tier = (limit) => ({ limits: [{ algorithm: 'GCRA', limit, period: '1m' }] });
const CONFIG = {
  defaults: {
    limiter: { timeout: '200ms', onUnavailable: 'local', breaker: { failures: 3, cooldown: '2s' } },
    policies: { free: tier(2) },
  },
  environments: {
    development: { redisUrl: 'redis://127.0.0.1:6379', limiter: { onUnavailable: 'open' } },
    production: { limiter: { prefix: 'prod:', limit: { policy: 'free' } }, policies: { pro: tier(5) } },
  },
};

async function until(what, fn, ms = 5000) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

describe('loadConfig', () => {
  test('an environment is the defaults with its section over them, chosen by NODE_ENV or RL_ENV', () => {
    const file = writeConfig(CONFIG);
    const prod = loadConfig({ file, environ: { NODE_ENV: 'production' } });
    assert.equal(prod.env, 'production');
    assert.deepEqual(prod.limiter, {
      timeout: 200, onUnavailable: 'local', prefix: 'prod:', limit: { policy: 'free' },
      breaker: { failures: 3, windowMs: undefined, cooldownMs: 2000, probes: undefined },
    });
    assert.deepEqual(Object.keys(prod.policies).sort(), ['free', 'pro']);
    assert.equal(prod.policySync, 'replace');
    const dev = loadConfig({ file, environ: { NODE_ENV: 'production', RL_ENV: 'development' } });
    assert.equal(dev.env, 'development');
    assert.equal(dev.limiter.onUnavailable, 'open');
    assert.equal(dev.redisUrl, 'redis://127.0.0.1:6379');
    assert.deepEqual(Object.keys(dev.policies), ['free']);
    assert.equal(loadConfig({ file, env: 'development', environ: { NODE_ENV: 'production' } }).env, 'development');
    assert.equal(loadConfig({ file, environ: {} }).env, 'development', 'no variable: development');
  });

  test('RL_* variables override the file, or configure without one', () => {
    const file = writeConfig(CONFIG);
    const c = loadConfig({ file, environ: {
      RL_CONFIG_FILE: '/nonexistent', NODE_ENV: 'production', RL_REDIS_URL: 'rediss://cache:6380',
      RL_TIMEOUT: '75', RL_ON_UNAVAILABLE: 'closed', RL_PREFIX: 'p:', RL_DENIAL_CACHE: '500',
      RL_POLICY_SYNC: 'merge',
    } });
    assert.equal(c.redisUrl, 'rediss://cache:6380');
    assert.equal(c.limiter.timeout, 75);
    assert.equal(c.limiter.onUnavailable, 'closed');
    assert.equal(c.limiter.prefix, 'p:');
    assert.deepEqual(c.limiter.denialCache, { maxKeys: 500 });
    assert.equal(c.policySync, 'merge');
    const only = loadConfig({ environ: { RL_POLICIES: JSON.stringify({ a: tier(1) }), RL_DENIAL_CACHE: 'true' } });
    assert.equal(only.file, undefined);
    assert.deepEqual(only.policies, { a: tier(1) });
    assert.equal(only.limiter.denialCache, true);
  });

  test('schema errors name every bad field and say what to fix', () => {
    const bad = structuredClone(CONFIG);
    bad.environments.production.policies.pro.limits[0].limit = 0;
    bad.environments.production.policies.pro.limits.push({ algorithm: 'LEAKY', limit: 1, period: '1min' });
    bad.environments.staging = { limiter: { onUnavailable: 'maybe', timout: 5 } };
    bad.environments.production.policies['bad name'] = tier(1);
    const file = writeConfig(bad);
    const err = (() => {
      try {
        loadConfig({ file, env: 'development' });
      } catch (e) {
        return e;
      }
      return assert.fail('a bad section in any environment fails every environment');
    })();
    assert.ok(err instanceof ConfigError);
    const by = Object.fromEntries(err.issues.map((i) => [i.path, i.message]));
    assert.match(by['environments.production.policies.pro.limits[0].limit'], /integer >= 1/);
    assert.match(by['environments.production.policies.pro.limits[1].algorithm'], /one of TOKEN_BUCKET, GCRA/);
    assert.match(by['environments.production.policies.pro.limits[1].period'], /duration/);
    assert.match(by['environments.staging.limiter.onUnavailable'], /"open", "closed", "local" or "throw"/);
    assert.ok(err.issues.some((i) => i.path.startsWith('environments.staging.limiter') && /timout/.test(i.message)), err.message);
    assert.ok(err.issues.some((i) => i.path.startsWith('environments.production.policies') && /policy name/.test(i.message)), err.message);
    assert.match(err.message, new RegExp(`^${file}: invalid rate-limit configuration:\n  `));

    assert.throws(() => loadConfig({ file: writeConfig(CONFIG), env: 'qa' }), /has no "qa" section \(it has: development, production\)/);
    assert.throws(() => loadConfig({ file: writeConfig('{"environments": {'), env: 'qa' }), /not JSON/);
    assert.throws(() => loadConfig({ environ: { RL_TIMEOUT: 'soon', RL_DENIAL_CACHE: 'yes' } }), (e) => {
      assert.deepEqual(e.issues.map((i) => i.path).sort(), ['RL_DENIAL_CACHE', 'RL_TIMEOUT']);
      return true;
    });
    assert.throws(
      () => loadConfig({ file: writeConfig({ environments: { development: { limiter: { limit: { algorithm: 'GCRA', limit: 5 } } } } }) }),
      (e) => e.issues[0].path === 'environments.development.limiter.limit' && /period/.test(e.issues[0].message),
    );
  });
});

for (const kind of ['redis', 'valkey']) {
  describe(`policies from the config on ${kind}`, () => {
    let server;
    let client;
    let limiter;
    before(async () => {
      server = await new Server(kind).start();
      client = await FLAVOURS.ioredis(server.port);
      limiter = new RateLimiter(client, { timeout: 5000, onUnavailable: 'throw' });
    });
    after(async () => {
      await closeClient(client);
      await server.stop();
    });

    test('created at start, updated when the file changes, a bad edit keeps the old set', async () => {
      await limiter.policySet('stale', tier(9));
      const file = writeConfig(CONFIG);
      const changes = [];
      const errors = [];
      const w = await watchConfig(limiter, { file, env: 'production', debounceMs: 50,
        onChange: (c, r) => changes.push(r), onError: (e) => errors.push(e) });
      try {
        assert.deepEqual(await limiter.policyList(), ['free', 'pro'], 'replace: the server has exactly the config\'s set');
        assert.equal(changes.length, 1);
        const v1 = (await limiter.policyGet('pro')).version;
        assert.equal((await limiter.policyGet('pro')).limits[0].limit, 5);
        // A check through the configured limiter uses the configured policy.
        const app = new RateLimiter(client, w.current.limiter);
        assert.equal((await app.check('u1')).limit, 2);

        const edited = structuredClone(CONFIG);
        edited.environments.production.policies.pro = tier(50);
        writeConfig(edited, file);
        const pro = await until('the new pro', async () => {
          const p = await limiter.policyGet('pro');
          return p.limits[0].limit === 50 && p;
        });
        assert.ok(pro.version > v1, 'RL.POLICY GET shows a new version');
        assert.equal(errors.length, 0);

        const digest = await limiter.policyDigest();
        const broken = structuredClone(edited);
        broken.environments.production.policies.pro.limits[0].period = 'soon';
        writeConfig(broken, file);
        await until('the error', () => errors.length > 0);
        assert.ok(errors[0] instanceof ConfigError);
        assert.match(errors[0].message, /policies\.pro\.limits\[0\]\.period/);
        writeConfig('{"environments": ', file);
        await until('the second error', () => errors.length > 1);
        assert.equal(await limiter.policyDigest(), digest, 'the server kept the last good set');
        assert.equal(w.current.policies.pro.limits[0].limit, 50);

        // Fixed again: applied.
        writeConfig(CONFIG, file);
        await until('the fix', async () => (await limiter.policyGet('pro')).limits[0].limit === 5);
      } finally {
        await w.close();
      }
    });

    test('a server that refuses the set changes nothing; a bad file at start rejects', async () => {
      await limiter.policyLoad({ keep: tier(3) });
      const digest = await limiter.policyDigest();
      // Valid to the schema, refused by the server: CALENDAR takes DAY, WEEK or MONTH, not 1h.
      const refused = { environments: { development: { policies: { cal: { limits: [{ algorithm: 'CALENDAR', limit: 1, period: '1h' }] } } } } };
      await assert.rejects(syncPolicies(limiter, loadConfig({ file: writeConfig(refused), environ: {} })), /policy limit 1 \(period\)/);
      assert.equal(await limiter.policyDigest(), digest);
      await assert.rejects(watchConfig(limiter, { file: writeConfig({ environments: {} }), env: 'development' }), ConfigError);
      assert.deepEqual(await limiter.policyList(), ['keep']);
    });

    test('merge mode sets changed policies and deletes only those it set', async () => {
      await limiter.policyLoad({ other: tier(3) });
      const cfg = { policySync: 'merge', policies: { a: tier(1), b: tier(2) } };
      const state = new (await import('redis-ratelimit/config')).SyncState();
      assert.deepEqual((await syncPolicies(limiter, cfg, state)).set, ['a', 'b']);
      const va = (await limiter.policyGet('a')).version;
      const r = await syncPolicies(limiter, { policySync: 'merge', policies: { a: tier(1), c: tier(4) } }, state);
      assert.deepEqual(r, { mode: 'merge', set: ['c'], deleted: ['b'] });
      assert.deepEqual(await limiter.policyList(), ['a', 'c', 'other']);
      assert.equal((await limiter.policyGet('a')).version, va, 'an unchanged policy is not set again');
    });
  });
}
