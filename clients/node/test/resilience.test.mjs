// The server killed with SIGKILL under load: the breaker opens, each onUnavailable policy decides,
// half-open probes find the server again after a restart on the same port, without restarting Node.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { RateLimiter, CircuitBreaker, UnavailableError, ServerError } from 'redis-ratelimit';
import { FLAVOURS, closeClient } from './support/clients.mjs';
import { Server, cli, sleep } from './support/servers.mjs';

const LIMIT = { algorithm: 'FIXED_WINDOW', limit: 5, period: '1h' };

async function until(what, cond, ms = 10_000) {
  const deadline = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

/** Records every state change and decision the limiter reports (the MetricsSink interface). */
function recorder() {
  return {
    states: [],
    decisions: [],
    errors: [],
    decision(result, source) { this.decisions.push(`${result}/${source}`); },
    error(kind) { this.errors.push(kind); },
    callDuration() {},
    breakerState(s) { this.states.push(s); },
  };
}

/** Wraps the real client so the test sees each call that reaches the network and in which breaker state. */
function counting(client, getLimiter) {
  const sends = [];
  const io = 'status' in client;
  return {
    sends,
    send: (key, ro, args, signal) => {
      sends.push(getLimiter().breakerState);
      return io ? client.call(...args) : client.sendCommand(args, { abortSignal: signal });
    },
  };
}

/** Workers checking keys in a loop until stopped. */
function load(rl, workers = 6) {
  let running = true;
  const seen = [];
  const loops = Array.from({ length: workers }, async (_, w) => {
    for (let i = 0; running; i++) {
      try {
        const d = await rl.check(`load:${w}:${i % 20}`, LIMIT);
        seen.push(d.source);
      } catch (e) {
        seen.push(e.constructor.name);
      }
      await sleep(2);
    }
  });
  return { seen, stop: async () => { running = false; await Promise.all(loops); } };
}

test('breaker: closed -> open after failures in the window, half-open after the cooldown, probes', () => {
  let now = 1000;
  const changes = [];
  const b = new CircuitBreaker({ failures: 3, windowMs: 100, cooldownMs: 50, probes: 2 }, (s) => changes.push(s), () => now);
  b.failure(); now += 60; b.failure(); now += 60; b.failure();
  assert.equal(b.state, 'closed', 'failures spread over more than the window do not open it');
  b.failure(); b.failure();
  assert.equal(b.state, 'open');
  assert.equal(b.tryAcquire(), false);
  assert.equal(b.openRemainingMs, 50);
  now += 50;
  assert.equal(b.state, 'half-open');
  assert.deepEqual([b.tryAcquire(), b.tryAcquire(), b.tryAcquire()], [true, true, false], 'two probes');
  b.failure();
  assert.equal(b.state, 'open', 'a failed probe opens it again');
  now += 50;
  assert.equal(b.tryAcquire(), true);
  b.success();
  assert.equal(b.state, 'closed');
  assert.deepEqual(changes, ['open', 'half-open', 'open', 'half-open', 'closed']);
});

for (const flavour of ['node-redis 5 (RESP2)', 'ioredis']) {
  describe(`SIGKILL under load, ${flavour}`, () => {
    let server;
    let client;
    before(async () => {
      server = await new Server('redis').start();
      client = await FLAVOURS[flavour](server.port);
    });
    after(async () => {
      await closeClient(client);
      await server.stop();
    });

    test('the breaker opens, stays off the network while open, probes, and closes after a restart', async () => {
      const metrics = recorder();
      let rl;
      const t = counting(client, () => rl);
      rl = new RateLimiter(t, { timeout: 200, breaker: { failures: 3, cooldownMs: 300, probes: 1 }, metrics });
      const l = load(rl);
      await until('server decisions', () => l.seen.includes('server'));
      await server.kill();
      await until('the breaker to open', () => rl.breakerState === 'open');
      // While it is down, every decision is the "open" policy's admission.
      await until('two probe cycles', () => metrics.states.filter((s) => s === 'half-open').length >= 2);
      assert.deepEqual(metrics.states.slice(0, 4), ['open', 'half-open', 'open', 'half-open']);
      const down = l.seen.slice(l.seen.lastIndexOf('server') + 1);
      assert.ok(down.length > 20 && down.every((s) => s === 'fallback'), `down: ${[...new Set(down)]}`);
      assert.ok(!t.sends.includes('open'), 'no call reached the network while the breaker was open');
      await (server = new Server('redis', { port: server.port })).start();
      await until('the breaker to close', () => rl.breakerState === 'closed' && l.seen.at(-1) === 'server', 15_000);
      await l.stop();
      assert.equal(metrics.states.at(-1), 'closed');
      assert.ok(metrics.errors.includes('unavailable'));
      const fresh = await rl.check('after:restart', LIMIT);
      assert.deepEqual([fresh.source, fresh.remaining], ['server', 4]);
    });
  });
}

describe('onUnavailable policies with the server killed', () => {
  let server;
  let client;
  before(async () => {
    server = await new Server('redis').start();
    client = await FLAVOURS['node-redis 5 (RESP2)'](server.port);
  });
  after(async () => {
    await closeClient(client);
    await server.stop();
  });

  test('each policy decides without the server; argument and server errors never trip the breaker', async () => {
    const make = (onUnavailable) =>
      new RateLimiter(client, { timeout: 1000, onUnavailable, breaker: { failures: 2, cooldownMs: 60_000 } });
    const policies = { open: make('open'), closed: make('closed'), local: make('local'), throw: make('throw') };
    await client.set('a:string', 'x');
    for (const rl of Object.values(policies)) {
      for (let i = 0; i < 3; i++) await assert.rejects(rl.check('a:string', LIMIT), ServerError);
      assert.equal(rl.breakerState, 'closed', 'WRONGTYPE is the caller\'s error, not an outage');
    }
    await server.kill();

    const open = [];
    for (let i = 0; i < 8; i++) open.push(await policies.open.check('k', LIMIT));
    assert.ok(open.every((d) => d.allowed && d.source === 'fallback'));
    assert.equal(policies.open.breakerState, 'open');

    const closed = [];
    for (let i = 0; i < 3; i++) closed.push(await policies.closed.check('k', LIMIT));
    assert.ok(closed.every((d) => !d.allowed && d.source === 'fallback'));
    // retryAfterMs is the breaker's cooldown left once it is open.
    assert.ok(closed[2].retryAfterMs > 50_000 && closed[2].retryAfterMs <= 60_000, String(closed[2].retryAfterMs));

    const local = [];
    for (let i = 0; i < 8; i++) local.push(await policies.local.check('k', LIMIT));
    assert.deepEqual(local.map((d) => d.allowed), [true, true, true, true, true, false, false, false],
      'the local limiter counts the same limit: 5 per hour');
    assert.deepEqual(local.map((d) => d.remaining).slice(0, 5), [4, 3, 2, 1, 0]);
    assert.ok(local[5].retryAfterMs > 0 && local[5].retryAfterMs <= 3_600_000);
    const other = await policies.local.check('other', LIMIT);
    assert.deepEqual([other.allowed, other.remaining], [true, 4], 'per key');

    await assert.rejects(policies.throw.check('k', LIMIT), UnavailableError);
    await assert.rejects(policies.throw.check('k', LIMIT), UnavailableError);
    await assert.rejects(policies.throw.check('k', LIMIT), /circuit breaker open/, 'two failures opened it');
    // Non-decision calls have no policy: they reject.
    await assert.rejects(policies.open.inspect('k'), UnavailableError);

    const m = await policies.local.mcheck([{ key: 'm1', limit: LIMIT }, { key: 'm2', limit: { ...LIMIT, limit: 1 } }]);
    assert.equal(m.allowed, true);
    const m2 = await policies.local.mcheck([{ key: 'm1', limit: LIMIT }, { key: 'm2', limit: { ...LIMIT, limit: 1 } }]);
    assert.deepEqual([m2.allowed, m2.source], [false, 'fallback']);
    assert.equal((await policies.local.check('m1', LIMIT)).remaining, 3, 'the denied group charged nothing locally');

    await (server = new Server('redis', { port: server.port })).start();
  });
});

describe('timeouts and the denial cache', () => {
  let server;
  let client;
  before(async () => {
    server = await new Server('valkey').start();
    client = await FLAVOURS['node-redis 5 (RESP3)'](server.port);
  });
  after(async () => {
    await closeClient(client);
    await server.stop();
  });

  test('a server that stalls past the timeout is unavailable', async () => {
    const rl = new RateLimiter(client, { timeout: 100, onUnavailable: 'closed', breaker: false });
    const sleeping = cli(server.port, 'DEBUG', 'SLEEP', '1');
    await sleep(100);
    const started = Date.now();
    const d = await rl.check('slow', LIMIT);
    const took = Date.now() - started;
    assert.deepEqual([d.allowed, d.source], [false, 'fallback']);
    assert.ok(took < 900, `the timeout answered before the stall ended (${took} ms)`);
    await sleeping;
    await sleep(50);
    // The timed-out check was dropped from the queue or ran once: never more than one charge.
    const insp = await rl.inspect('slow');
    assert.ok(insp === null || insp.admitted <= 1);
  });

  test('denied keys are answered locally until retryAfterMs, in a bounded LRU', async () => {
    const rl = new RateLimiter(client, { denialCache: { maxKeys: 2 } });
    const limit = { algorithm: 'GCRA', limit: 1, period: '400ms' };
    for (const k of ['d1', 'd2', 'd3']) {
      assert.equal((await rl.check(k, limit)).allowed, true);
      assert.deepEqual([(await rl.check(k, limit)).source], ['server']);
    }
    const calls = await server.calls('rl.check');
    const hit = await rl.check('d3', limit);
    assert.deepEqual([hit.allowed, hit.source], [false, 'cache']);
    assert.ok(hit.retryAfterMs > 0 && hit.retryAfterMs <= 400);
    assert.equal((await rl.check('d2', limit)).source, 'cache');
    assert.equal(await server.calls('rl.check'), calls, 'cache hits send nothing');
    assert.equal((await rl.check('d1', limit)).source, 'server', 'd1 was evicted (2 keys kept)');
    await sleep(hit.retryAfterMs + 20);
    const later = await rl.check('d3', limit);
    assert.deepEqual([later.allowed, later.source], [true, 'server']);
  });
});
