// Prometheus metrics through the real prom-client: the names every redis-ratelimit client uses.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as prom from 'prom-client';
import { RateLimiter, PrometheusMetrics, ArgumentError } from 'redis-ratelimit';
import { FLAVOURS, closeClient } from './support/clients.mjs';
import { Server } from './support/servers.mjs';

const value = (text, line) => {
  const m = text.split('\n').find((l) => l.startsWith(line));
  return m === undefined ? undefined : Number(m.slice(line.length).trim());
};

test('decisions, errors, round trips and the breaker state, before and after the server dies', async () => {
  const server = await new Server('valkey').start();
  const client = await FLAVOURS['node-redis 5 (RESP3)'](server.port);
  const registry = new prom.Registry();
  const metrics = new PrometheusMetrics(prom, { registry });
  assert.doesNotThrow(() => new PrometheusMetrics(prom, { registry }), 'a second instance reuses the metrics');
  const rl = new RateLimiter(client, { metrics, timeout: 1000, breaker: { failures: 2, cooldownMs: 60_000 },
    limit: { algorithm: 'GCRA', limit: 2, period: '1m' } });
  for (let i = 0; i < 3; i++) await rl.check('m');
  await client.set('str', 'x');
  await assert.rejects(rl.check('str'));
  await assert.rejects(rl.check('m', { limit: 0 }), ArgumentError);
  let text = await registry.metrics();
  assert.equal(value(text, 'ratelimit_client_decisions_total{result="allowed",source="server"}'), 2);
  assert.equal(value(text, 'ratelimit_client_decisions_total{result="denied",source="server"}'), 1);
  assert.equal(value(text, 'ratelimit_client_errors_total{class="server"}'), 1);
  assert.equal(value(text, 'ratelimit_client_errors_total{class="argument"}'), 1, 'caught before the network, counted all the same');
  assert.equal(value(text, 'ratelimit_client_call_duration_seconds_count'), 4, 'the WRONGTYPE reply was a round trip too');
  assert.equal(value(text, 'ratelimit_client_breaker_state'), 0);

  await server.kill();
  for (let i = 0; i < 4; i++) await rl.check('m');
  text = await registry.metrics();
  assert.equal(value(text, 'ratelimit_client_decisions_total{result="allowed",source="fallback"}'), 4);
  assert.equal(value(text, 'ratelimit_client_errors_total{class="unavailable"}'), 2);
  assert.equal(value(text, 'ratelimit_client_breaker_state'), 2, 'open');
  await closeClient(client);
  await server.stop();
});
