// A three-master Redis Cluster: every client routes RL.* by key to the slot's owner.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { RateLimiter, ServerError } from 'redis-ratelimit';
import { CLUSTER_FLAVOURS, closeClient } from './support/clients.mjs';
import { startCluster } from './support/servers.mjs';

let nodes;
before(async () => {
  nodes = await startCluster('redis');
});
after(() => Promise.all(nodes.map((n) => n.stop())));

const moved = async () => {
  let n = 0;
  for (const node of nodes) {
    const line = (await node.info('errorstats')).errorstat_MOVED;
    n += line === undefined ? 0 : Number(/count=(\d+)/.exec(line)[1]);
  }
  return n;
};

for (const [flavour, connect] of Object.entries(CLUSTER_FLAVOURS)) {
  describe(flavour, () => {
    let client;
    let rl;
    before(async () => {
      client = await connect(nodes.map((n) => n.port));
      rl = new RateLimiter(client, { timeout: 5000, onUnavailable: 'throw', limit: { algorithm: 'FIXED_WINDOW', limit: 2, period: '1h' } });
    });
    after(() => closeClient(client));

    test('keys on every master are checked where they live, without redirects', async () => {
      // Warm the client's slot map, then count MOVED replies across the checks.
      await rl.check(`${flavour}:warm`);
      const before = await moved();
      const keys = Array.from({ length: 30 }, (_, i) => `${flavour}:user:${i}`);
      for (const key of keys) {
        assert.equal((await rl.check(key)).remaining, 1);
        assert.equal((await rl.check(key)).remaining, 0);
        assert.equal((await rl.check(key)).allowed, false);
      }
      assert.equal(await moved(), before, 'no check was redirected');
      const perNode = await Promise.all(nodes.map((n) => n.calls('rl.check')));
      assert.ok(perNode.every((c) => c > 0), `every master served checks: ${perNode}`);
      for (const key of keys.slice(0, 5)) assert.equal((await rl.inspect(key)).admitted, 2);
      assert.equal(await rl.reset(...keys), keys.length);
    });

    test('mcheck with a hash tag works; across slots it is a ServerError', async () => {
      const m = await rl.mcheck([{ key: `{${flavour}}:a` }, { key: `{${flavour}}:b` }]);
      assert.equal(m.allowed, true);
      assert.equal(m.results.length, 2);
      await assert.rejects(rl.mcheck([{ key: 'a:1' }, { key: 'b:2' }, { key: 'c:3' }]),
        (e) => e instanceof ServerError && e.code === 'CROSSSLOT');
    });

    test('leases route by key too', async () => {
      const l = await rl.acquire(`${flavour}:job`, { limit: 1, lease: '10s' });
      assert.equal(l.acquired, true);
      assert.equal(await rl.release(`${flavour}:job`, l.leaseId), 1);
    });
  });
}
