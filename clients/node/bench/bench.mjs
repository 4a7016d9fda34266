// make bench-node: checks per second through this client (node-redis 5 and ioredis) against
// rate-limiter-flexible's RateLimiterRedis on the same server in one run, the server's time per
// call from INFO commandstats (RL.CHECK against rate-limiter-flexible's EVALSHA), and the client's
// own overhead over a bare round trip. Writes "## Client: Node" in docs/benchmarks.md.
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { parseArgs } from 'node:util';
import { RateLimiter } from '../dist/esm/index.js';
import { httpBench } from './http.mjs';
import { Server, cli } from '../test/support/servers.mjs';

const require = createRequire(new URL('../test/package.json', import.meta.url));
const { createClient } = require('redis');
const { Redis } = require('ioredis');
const { RateLimiterRedis } = require('rate-limiter-flexible');

const { values } = parseArgs({ options: { doc: { type: 'string' }, seconds: { type: 'string', default: '2' },
  rounds: { type: 'string', default: '3' }, 'http-seconds': { type: 'string', default: '2' },
  'http-rounds': { type: 'string', default: '3' }, 'http-connections': { type: 'string', default: '32' },
  concurrency: { type: 'string', default: '64' }, keys: { type: 'string', default: '10000' } } });
const SECONDS = Number(values.seconds);
const CONCURRENCY = Number(values.concurrency);
const KEYS = Number(values.keys);
const ROUNDS = Number(values.rounds);

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

/** Median latencies in µs of two operations, one call at a time, alternating call by call. */
async function latencies(a, b, calls = 4000) {
  const ta = [];
  const tb = [];
  for (let i = 0; i < calls; i++) {
    for (const [op, t] of i % 2 === 0 ? [[a, ta], [b, tb]] : [[b, tb], [a, ta]]) {
      const s = performance.now();
      await op(i % KEYS);
      t.push((performance.now() - s) * 1000);
    }
  }
  const med = (t) => t.sort((x, y) => x - y)[Math.floor(t.length / 2)];
  return [med(ta), med(tb)];
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

// The rows take turns, ROUNDS times, so a noisy neighbour on a shared machine hits them alike;
// each row reports its median round.
const ops = [
  ['redis-ratelimit RateLimiter.check, node-redis 5', (i) => oursNr.check(`u${i}`)],
  ['redis-ratelimit RateLimiter.check, ioredis 5', (i) => oursIo.check(`u${i}`)],
  ["rate-limiter-flexible RateLimiterRedis.consume, ioredis 5", (i) => theirs.consume(`u${i}`)],
];
for (const [, op] of ops) await op(0); // warm up: connections, script load
const runs = ops.map(() => []);
for (let r = 0; r < ROUNDS; r++) for (const [j, [, op]] of ops.entries()) runs[j].push(await throughput(op));
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const rows = ops.map(([name], j) => [name, median(runs[j])]);
await cli(server.port, 'CONFIG', 'RESETSTAT');
await throughput((i) => oursIo.check(`u${i}`));
await throughput((i) => theirs.consume(`u${i}`));
const rlUs = await usecPerCall(server.port, 'rl.check');
const evalUs = await usecPerCall(server.port, 'evalsha');

// Client overhead: check() against the same RL.CHECK sent raw through the same client, one at a time.
const raw = ['RL.CHECK', '', 'FIXED_WINDOW', '1000000', '60000'];
const rawNr = (i) => nr.sendCommand((raw[1] = `raw${i}`, raw));
const [latRaw, latOurs] = await latencies(rawNr, (i) => oursNr.check(`lat${i}`));
const overhead = latOurs - latRaw;

await nr.destroy();
io.disconnect();
const H = { seconds: Number(values['http-seconds']), rounds: Number(values['http-rounds']), connections: Number(values['http-connections']) };
const http = await httpBench(server.port, H);
await server.stop();

const fmt = (n) => Math.round(n).toLocaleString('en-US');
const cmd = `make bench-node (node bench/bench.mjs --seconds ${SECONDS} --rounds ${ROUNDS} --concurrency ${CONCURRENCY} --keys ${KEYS} --http-seconds ${H.seconds} --http-rounds ${H.rounds} --http-connections ${H.connections})`;
const [ours, erl, rlf] = http;
const bestRps = Math.max(erl.rps, rlf.rps);
const bestUs = Math.min(erl.us, rlf.us);
const met = (ok) => (ok ? 'yes' : 'no');
const section = [
  '## Client: Node',
  '',
  `\`${cmd}\`, Node ${process.version}, Redis 7.0 with the module on loopback, ${CONCURRENCY} calls in flight on one`,
  `connection, ${fmt(KEYS)} keys; the rows take turns for ${ROUNDS} rounds of ${SECONDS} s and each shows its median`,
  `round, all in one run on the same server (${new Date().toISOString().slice(0, 10)}).`,
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
  `Client overhead of \`check\` over the same RL.CHECK sent raw through node-redis, one call at a time, alternating (medians of 4,000 each):`,
  `${overhead.toFixed(1)} µs (raw ${latRaw.toFixed(1)} µs, check ${latOurs.toFixed(1)} µs). The machine is shared, so`,
  'absolute figures vary between runs; the rows of one run are comparable.',
  '',
  '### HTTP: an Express app under load',
  '',
  `The same Express 5 app (one \`GET /\`, one limiter keyed by client IP, a limit no run reaches) with each`,
  `limiter, in its own process, loaded by autocannon 9 from a second process (${H.connections} connections, ${H.seconds} s after a 1 s`,
  `warm-up, ${H.rounds} round(s), median), against the Redis server above; server µs/call from INFO commandstats after`,
  'CONFIG RESETSTAT before each row (bench/http.mjs, bench/http-app.mjs; versions in bench/package-lock.json).',
  'The app, autocannon and Redis share the 2 cores (and other work on them), so requests/s here is mostly the',
  'cost of Express and the HTTP stack and varies between runs by more than the rows differ; µs/call is the',
  "server's own figure and steadier.",
  '',
  '| app | requests/s | server command | µs/call |',
  '|---|---|---|---|',
  ...http.map((r) => `| ${r.name} | ${fmt(r.rps)} | ${r.command.toUpperCase()} | ${r.us.toFixed(2)} |`),
  '',
  'Targets (issue 18):',
  '',
  '| target | measured | met |',
  '|---|---|---|',
  `| app requests/s >= theirs (best of the two: ${fmt(bestRps)}) | ${fmt(ours.rps)} | ${met(ours.rps >= bestRps)} |`,
  `| server µs/call <= 0.4x theirs (best: ${bestUs.toFixed(2)}) | ${ours.us.toFixed(2)} (${(ours.us / bestUs).toFixed(2)}x) | ${met(ours.us <= 0.4 * bestUs)} |`,
  `| client overhead of a check <= 15 µs over the round trip | ${overhead.toFixed(1)} µs | ${met(overhead <= 15)} |`,
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
