// Rate limiting with node-redis: one RL.CHECK per request.
// Needs node-redis (`make client-deps` runs npm ci here). From the repo's top directory:
// Run: cd examples/node && node check.mjs
// REDIS_URL says where and as whom; the default is the app user of the repo's redis.conf
// on 127.0.0.1:6379 (`make run` prints the URL for the port it uses).
import { createClient } from 'redis';

const FIELDS = ['allowed', 'limit', 'remaining', 'retry_after_ms', 'reset_after_ms'];

// RL.CHECK as an object. node-redis speaks RESP2: the reply is five integers.
async function check(client, key, algorithm, limit, periodMs, cost = 1) {
  const reply = await client.sendCommand([
    'RL.CHECK', key, algorithm, String(limit), String(periodMs), 'COST', String(cost),
  ]);
  return Object.fromEntries(FIELDS.map((name, i) => [name, Number(reply[i])]));
}

const client = createClient({ url: process.env.REDIS_URL ?? 'redis://app:change-me-app-password@127.0.0.1:6379' });
client.on('error', (err) => console.error('redis error', err));
await client.connect();
// A burst of 3, refilling at 3 per second (token bucket), for one API key.
for (let i = 1; i <= 4; i++) {
  const d = await check(client, 'example:node:key:abc', 'TOKEN_BUCKET', 3, 1000);
  console.log(d.allowed
    ? `request ${i}: allowed, ${d.remaining} left`
    : `request ${i}: denied, retry in ${d.retry_after_ms} ms`);
}
await client.quit();
