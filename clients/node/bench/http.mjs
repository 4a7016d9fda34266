// The HTTP half of make bench-node: each app variant (http-app.mjs) in its own process, loaded by
// autocannon in another, against one Redis server; requests/s and the server's µs per limiter call.
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { cli } from '../test/support/servers.mjs';

const run = promisify(execFile);
const here = fileURLToPath(new URL('.', import.meta.url));
export const VARIANTS = [
  ['redis-ratelimit', 'expressRateLimit (node-redis 5)', 'rl.check'],
  ['express-rate-limit', 'express-rate-limit 8 + rate-limit-redis 6 (node-redis 5)', 'evalsha'],
  ['rate-limiter-flexible', 'rate-limiter-flexible RateLimiterRedis as middleware (ioredis 5)', 'evalsha'],
];

async function usecPerCall(port, command) {
  const line = (await cli(port, 'INFO', 'commandstats')).split(/\r?\n/).find((l) => l.startsWith(`cmdstat_${command}:`));
  return line === undefined ? NaN : Number(/usec_per_call=([\d.]+)/.exec(line)[1]);
}

/** One variant for `seconds`: the app's requests/s (autocannon's average) and the server's µs/call. */
async function one(variant, command, redisPort, { seconds, connections }) {
  const app = spawn(process.execPath, [`${here}http-app.mjs`, variant, String(redisPort)], { stdio: ['ignore', 'pipe', 'inherit'] });
  const [line] = await once(app.stdout, 'data');
  const port = Number(/port (\d+)/.exec(String(line))[1]);
  const url = `http://127.0.0.1:${port}/`;
  await run(`${here}node_modules/.bin/autocannon`, ['-c', String(connections), '-d', '1', url]); // warm up
  await cli(redisPort, 'CONFIG', 'RESETSTAT');
  const { stdout } = await run(`${here}node_modules/.bin/autocannon`, ['-j', '-c', String(connections), '-d', String(seconds), url],
    { maxBuffer: 1 << 24 });
  const us = await usecPerCall(redisPort, command);
  app.kill('SIGTERM');
  await once(app, 'exit');
  const r = JSON.parse(stdout);
  if (r.non2xx > 0 || r.errors > 0) throw new Error(`${variant}: ${r.non2xx} non-2xx, ${r.errors} errors`);
  return { rps: r.requests.average, us };
}

/** Every variant, taking turns for `rounds`; each reports its median round. */
export async function httpBench(redisPort, { seconds = 3, rounds = 1, connections = 32 } = {}) {
  const runs = VARIANTS.map(() => []);
  for (let r = 0; r < rounds; r++) {
    for (const [j, [variant, , command]] of VARIANTS.entries()) runs[j].push(await one(variant, command, redisPort, { seconds, connections }));
  }
  const median = (xs, f) => [...xs].map(f).sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  return VARIANTS.map(([variant, name, command], j) => ({
    variant, name, command, rps: median(runs[j], (x) => x.rps), us: median(runs[j], (x) => x.us),
  }));
}
