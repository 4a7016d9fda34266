// examples/node/app.mjs, the Express app that uses the package, run as its README says against a
// real server: what it serves and prints.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { Server } from './support/servers.mjs';

const dir = join(process.env.RL_EXAMPLES, 'node');
let server;
let app;
let base;
let output = '';
before(async () => {
  server = await new Server('redis').start();
  app = spawn(process.execPath, ['app.mjs'], {
    cwd: dir,
    env: { ...process.env, REDIS_URL: `redis://127.0.0.1:${server.port}`, PORT: '0' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  app.stdout.setEncoding('utf8');
  base = await new Promise((resolve, reject) => {
    app.stdout.on('data', (s) => {
      output += s;
      const m = /listening on (http:\/\/\S+)/.exec(output);
      if (m) resolve(m[1]);
    });
    app.once('exit', (code) => reject(new Error(`app.mjs exited with ${code}: ${output}`)));
  });
});
after(async () => {
  if (app.exitCode === null) {
    app.kill('SIGKILL');
    await once(app, 'exit');
  }
  await server.stop();
});

test('the middleware limits each client to 5 a minute with draft-8 headers', async () => {
  const codes = [];
  let first;
  let last;
  for (let i = 0; i < 6; i++) {
    const r = await fetch(`${base}/`, { headers: { 'x-forwarded-for': '203.0.113.1' } });
    codes.push(r.status);
    first ??= r;
    last = r;
    await r.text();
  }
  assert.deepEqual(codes, [200, 200, 200, 200, 200, 429]);
  assert.equal(first.headers.get('ratelimit-policy'), '"default";q=5;w=60');
  assert.match(first.headers.get('ratelimit'), /^"default";r=4;t=\d+$/);
  assert.ok(Number(last.headers.get('retry-after')) >= 1);
  // Another client (the app trusts its loopback proxy) has its own budget; /login its own limit.
  assert.equal((await fetch(`${base}/`, { headers: { 'x-forwarded-for': '203.0.113.2' } })).status, 200);
  const login = [];
  for (let i = 0; i < 3; i++) login.push((await fetch(`${base}/login`, { headers: { 'x-forwarded-for': '203.0.113.1' } })).status);
  assert.deepEqual(login, [200, 200, 429]);
  assert.ok((await server.calls('rl.check')) >= 10, 'every decision was an RL.CHECK on the server');
});

test('RateLimiter.check with a cost per row', async () => {
  const h = { 'x-forwarded-for': '203.0.113.3' };
  assert.deepEqual(await (await fetch(`${base}/export?rows=600`, { headers: h })).json(), { rows: 600, remaining: 400 });
  const denied = await fetch(`${base}/export?rows=600`, { headers: h });
  assert.equal(denied.status, 429);
  const body = await denied.json();
  assert.equal(body.error, 'export quota exceeded');
  assert.ok(body.retryAfterMs > 0);
  assert.equal((await fetch(`${base}/export?rows=0`, { headers: h })).status, 500, 'cost 0 is an argument error');
});

test('SIGTERM stops it cleanly', async () => {
  app.kill('SIGTERM');
  const [code] = await once(app, 'exit');
  assert.equal(code, 0);
  assert.match(output, /stopped\n$/);
});
