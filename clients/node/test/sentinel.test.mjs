// Sentinel: a master and a replica with the module, one real redis-sentinel, and the limiter on
// ioredis's sentinel support and on node-redis 5's createSentinel, through a SENTINEL FAILOVER.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { createSentinel } from 'redis';
import { RateLimiter, ServerError, UnavailableError } from 'redis-ratelimit';
import { Server, cli, freePort, sleep } from './support/servers.mjs';

const NAME = 'rlmaster';
let master;
let replica;
let sentinel;
let sentinelPort;
let dir;

async function until(what, fn, ms = 15_000) {
  const end = Date.now() + ms;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch { /* not yet */ }
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await sleep(50);
  }
}
const masterPort = async () => Number((await cli(sentinelPort, 'SENTINEL', 'get-master-addr-by-name', NAME)).split('\n')[1]);

before(async () => {
  master = await new Server('redis').start();
  replica = await new Server('redis', { args: ['--replicaof', '127.0.0.1', String(master.port)] }).start();
  await until('the replica in sync', async () => (await replica.info('replication')).master_link_status === 'up');
  dir = mkdtempSync(join(tmpdir(), 'rl-sentinel-'));
  sentinelPort = await freePort();
  const conf = join(dir, 'sentinel.conf');
  writeFileSync(conf, [`port ${sentinelPort}`, 'bind 127.0.0.1', `dir ${dir}`,
    `sentinel monitor ${NAME} 127.0.0.1 ${master.port} 1`, `sentinel down-after-milliseconds ${NAME} 1000`,
    `sentinel failover-timeout ${NAME} 5000`, ''].join('\n'));
  sentinel = spawn('/usr/bin/redis-server', [conf, '--sentinel'], { stdio: ['ignore', 'ignore', 'inherit'] });
  await until('the sentinel to see the replica', async () =>
    (await cli(sentinelPort, 'SENTINEL', 'replicas', NAME)).includes(String(replica.port)));
});
after(async () => {
  if (sentinel.exitCode === null) {
    const exited = new Promise((r) => sentinel.once('exit', r));
    sentinel.kill('SIGTERM');
    await exited;
  }
  await replica.stop();
  await master.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('Sentinel', () => {
  test('ioredis and node-redis 5 check through a SENTINEL FAILOVER', async (t) => {
    const io = new Redis({ sentinels: [{ host: '127.0.0.1', port: sentinelPort }], name: NAME, lazyConnect: true });
    io.on('error', () => undefined); // reconnect attempts are logged otherwise
    await io.connect();
    const nr = await createSentinel({ name: NAME, sentinelRootNodes: [{ host: '127.0.0.1', port: sentinelPort }] })
      .on('error', () => undefined).connect();
    const limit = { algorithm: 'FIXED_WINDOW', limit: 100_000, period: '1h' };
    const clients = { ioredis: io, 'node-redis 5': nr };
    const limiters = Object.fromEntries(Object.entries(clients).map(([k, c]) =>
      [k, new RateLimiter(c, { timeout: 2000, breaker: false, onUnavailable: 'throw', limit })]));
    try {
      const before = master.port;
      assert.equal(await masterPort(), before);
      for (const [k, l] of Object.entries(limiters)) assert.equal((await l.check(`s:${k}`)).allowed, true, k);

      // Load through both clients while the sentinel fails over; record what each call saw.
      const seen = Object.fromEntries(Object.keys(limiters).map((k) => [k, { ok: 0, errors: {} }]));
      let stop = false;
      const load = Object.entries(limiters).map(async ([k, l]) => {
        while (!stop) {
          try {
            await l.check(`s:${k}`);
            seen[k].ok++;
          } catch (e) {
            assert.ok(e instanceof UnavailableError || e instanceof ServerError, `${k}: ${e}`);
            const kind = `${e.name}: ${e.message.split(/[\n(]/)[0].slice(0, 60)}`;
            seen[k].errors[kind] = (seen[k].errors[kind] ?? 0) + 1;
            await sleep(20);
          }
        }
      });
      await sleep(200);
      assert.equal(await cli(sentinelPort, 'SENTINEL', 'FAILOVER', NAME), 'OK');
      await until('the sentinel to name the replica master', async () => (await masterPort()) === replica.port);
      await until('the old master demoted', async () => (await master.info('replication')).role === 'slave');
      const okAt = Object.fromEntries(Object.keys(seen).map((k) => [k, seen[k].ok]));
      // Without restarting anything, each client's checks reach the new master.
      await until('both clients admitted by the new master', async () =>
        Object.keys(seen).every((k) => seen[k].ok > okAt[k] + 20));
      stop = true;
      await Promise.all(load);
      assert.ok((await replica.calls('rl.check')) > 40, 'the promoted replica answered RL.CHECK');
      for (const [k, l] of Object.entries(limiters)) {
        const d = await l.check(`s:${k}`);
        assert.equal(d.allowed, true);
        assert.ok(d.remaining < 100_000 - 1, `${k}: the key's count carried over to the new master`);
        t.diagnostic(`${k}: ${seen[k].ok} checks admitted during the run; errors during the failover: ${JSON.stringify(seen[k].errors)}`);
      }
    } finally {
      io.disconnect();
      await nr.destroy();
    }
  });
});
