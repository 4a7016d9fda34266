// make bench-node: checks per second through this client (node-redis 5 and ioredis) against
// rate-limiter-flexible's RateLimiterRedis on the same server in one run, the server's time per
// call from INFO commandstats (RL.CHECK against rate-limiter-flexible's EVALSHA), and the client's
// own overhead over a bare round trip. Writes "## Client: Node" in docs/benchmarks.md.
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { parseArgs } from 'node:util';
import { RateLimiter } from '../dist/esm/index.js';
import { Server, cli } from '../test/support/servers.mjs';

const require = createRequire(new URL('../test/package.json', import.meta.url));
const { createClient } = require('redis');
const { Redis } = require('ioredis');
const { RateLimiterRedis } = require('rate-limiter-flexible');

const { values } = parseArgs({ options: { doc: { type: 'string' }, seconds: { type: 'string', default: '3' },
  concurrency: { type: 'string', default: '64' }, keys: { type: 'string', default: '10000' } } });
const SECONDS = Number(values.seconds);
const CONCURRENCY = Number(values.concurrency);
const KEYS = Number(values.keys);

/** Runs `op(i)` with CONCURRENCY in flight for SECONDS; returns calls per second. */
async function throughput(op) {
  let n = 0;
  const end = performance.now() + SECONDS * 1000;
  await Promise.all(Array.from({ length: CONCURRENCY }, async (_, w) => {
    for (let i = w; performance.now() < end; i += CONCURRENCY) {
      await op(i % KEYS);
      n++;
    }
  }));
  return n / SECONDS;
}

/** Median latency in µs of one call at a time. */
async function latency(op, calls = 3000) {
  const t = [];
  for (let i = 0; i < calls; i++) {
    const s = performance.now();
    await op(i % KEYS);
    t.push((performance.now() - s) * 1000);
  }
  t.sort((a, b) => a - b);
  return t[Math.floor(t.length / 2)];
}

async function usecPerCall(port, command) {
  const line = (await cli(port, 'INFO', 'commandstats')).split(/\r?\n/).find((l) => l.startsWith(`cmdstat_${command}:`));
  return line === undefined ? NaN : Number(/usec_per_call=([\d.]+)/.exec(line)[1]);
}

const server = await new Server('redis').start();
const nr = createClient({ url: server.url });
nr.on('error', () => {});
await nr.connect();
const io = new Redis({ port: server.port, host: '127.0.0.1' });
const limit = { algorithm: 'FIXED_WINDOW', limit: 1_000_000, period: '1m' };
const oursNr = new RateLimiter(nr, { limit, timeout: 1000, prefix: 'nr:' });
const oursIo = new RateLimiter(io, { limit, timeout: 1000, prefix: 'io:' });
const theirs = new RateLimiterRedis({ storeClient: io, points: 1_000_000, duration: 60, keyPrefix: 'rlflx' });

const rows = [];
for (const [name, op] of [
  ['redis-ratelimit RateLimiter.check, node-redis 5', (i) => oursNr.check(`u${i}`)],
  ['redis-ratelimit RateLimiter.check, ioredis 5', (i) => oursIo.check(`u${i}`)],
  ["rate-limiter-flexible RateLimiterRedis.consume, ioredis 5", (i) => theirs.consume(`u${i}`)],
]) {
  await op(0); // warm up: connection, script load
  rows.push([name, await throughput(op)]);
}
await cli(server.port, 'CONFIG', 'RESETSTAT');
await throughput((i) => oursIo.check(`u${i}`));
await throughput((i) => theirs.consume(`u${i}`));
const rlUs = await usecPerCall(server.port, 'rl.check');
const evalUs = await usecPerCall(server.port, 'evalsha');

// Client overhead: check() against the same RL.CHECK sent raw through the same client, one at a time.
const raw = ['RL.CHECK', '', 'FIXED_WINDOW', '1000000', '60000'];
const rawNr = (i) => nr.sendCommand((raw[1] = `raw${i}`, raw));
const latRaw = await latency(rawNr);
const latOurs = await latency((i) => oursNr.check(`lat${i}`));
const latRaw2 = await latency(rawNr);
const overhead = latOurs - (latRaw + latRaw2) / 2;

await nr.destroy();
io.disconnect();
await server.stop();

const fmt = (n) => Math.round(n).toLocaleString('en-US');
const cmd = `make bench-node (node bench/bench.mjs --seconds ${SECONDS} --concurrency ${CONCURRENCY} --keys ${KEYS})`;
const section = [
  '## Client: Node',
  '',
  `\`${cmd}\`, Node ${process.version}, Redis 7.0 with the module on loopback, ${CONCURRENCY} calls in flight on one`,
  `connection, ${fmt(KEYS)} keys, ${SECONDS} s per row, all in one run on the same server (${new Date().toISOString().slice(0, 10)}).`,
  '',
  '| limiter | calls/s |',
  '|---|---|',
  ...rows.map(([n, r]) => `| ${n} | ${fmt(r)} |`),
  '',
  'Server time per call (INFO commandstats usec_per_call, after CONFIG RESETSTAT, both under the same load):',
  '',
  '| command | µs/call |',
  '|---|---|',
  `| RL.CHECK (redis-ratelimit) | ${rlUs.toFixed(2)} |`,
  `| EVALSHA (rate-limiter-flexible's script) | ${evalUs.toFixed(2)} |`,
  `| ratio | ${(rlUs / evalUs).toFixed(2)}x |`,
  '',
  `Client overhead of \`check\` over the same RL.CHECK sent raw through node-redis, one call at a time (median of 3,000):`,
  `${overhead.toFixed(1)} µs (raw ${latRaw.toFixed(1)} µs, check ${latOurs.toFixed(1)} µs). The machine is shared, so`,
  'absolute figures vary between runs; the rows of one run are comparable.',
  '',
].join('\n');
console.log(section);

if (values.doc !== undefined) {
  const text = readFileSync(values.doc, 'utf8');
  const start = text.indexOf('\n## Client: Node\n');
  let out;
  if (start === -1) out = `${text.trimEnd()}\n\n${section}`;
  else {
    const next = text.indexOf('\n## ', start + 1);
    out = text.slice(0, start + 1) + section + (next === -1 ? '' : `\n${text.slice(next + 1)}`);
  }
  writeFileSync(values.doc, out.endsWith('\n') ? out : `${out}\n`);
}
