// Real redis-server 7.0 and valkey-server processes with the module, on free loopback ports,
// started and stopped by PID. Nothing here imitates Redis.
import { spawn, execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
export const MODULE = process.env.RL_MODULE;
export const SERVERS = { redis: '/usr/bin/redis-server', valkey: process.env.VALKEY_SERVER };
if (!MODULE) throw new Error('RL_MODULE (the module .so) must be set');
if (!SERVERS.valkey) throw new Error('VALKEY_SERVER must be set');

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function portFree(port) {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

/** A free port whose cluster bus port (+10000) is free too, both <= 55535. */
export async function freePort() {
  for (;;) {
    const p = 20000 + Math.floor(Math.random() * 25000);
    if ((await portFree(p)) && (await portFree(p + 10000))) return p;
  }
}

export async function cli(port, ...args) {
  const { stdout } = await run('redis-cli', ['-p', String(port), ...args]);
  return stdout.trim();
}

export class Server {
  constructor(kind, { port, cluster = false, args = [] } = {}) {
    this.kind = kind;
    this.extra = args;
    this.port = port;
    this.cluster = cluster;
    this.dir = mkdtempSync(join(tmpdir(), `rl-node-${kind}-`));
    this.proc = undefined;
  }

  async start() {
    this.port ??= await freePort();
    const args = ['--port', String(this.port), '--bind', '127.0.0.1', '--loadmodule', MODULE,
      '--save', '', '--appendonly', 'no', '--dir', this.dir, '--enable-debug-command', 'yes'];
    if (this.cluster) args.push('--cluster-enabled', 'yes', '--cluster-config-file', `nodes-${this.port}.conf`);
    args.push(...this.extra);
    this.proc = spawn(SERVERS[this.kind], args, { stdio: ['ignore', 'ignore', 'inherit'] });
    const deadline = Date.now() + 10_000;
    for (;;) {
      try {
        if ((await cli(this.port, 'PING')) === 'PONG') return this;
      } catch { /* not up yet */ }
      if (Date.now() > deadline) throw new Error(`${this.kind} did not start on ${this.port}`);
      await sleep(50);
    }
  }

  get url() {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** SIGKILL: the crash the resilience tests are about. */
  async kill(signal = 'SIGKILL') {
    const p = this.proc;
    if (p === undefined || p.exitCode !== null) return;
    const exited = new Promise((r) => p.once('exit', r));
    p.kill(signal);
    await exited;
    this.proc = undefined;
  }

  async stop() {
    await this.kill('SIGTERM');
    rmSync(this.dir, { recursive: true, force: true });
  }

  async info(section) {
    const text = await cli(this.port, 'INFO', section);
    return Object.fromEntries(text.split(/\r?\n/).filter((l) => l.includes(':')).map((l) => l.split(/:(.*)/s).slice(0, 2)));
  }

  /** calls= of one command in INFO commandstats (0 if never called). */
  async calls(command) {
    const v = (await this.info('commandstats'))[`cmdstat_${command}`];
    return v === undefined ? 0 : Number(/calls=(\d+)/.exec(v)[1]);
  }
}

/** Three masters, no replicas: created with redis-cli --cluster create. */
export async function startCluster(kind = 'redis') {
  const nodes = [];
  for (let i = 0; i < 3; i++) nodes.push(await new Server(kind, { cluster: true }).start());
  await run('redis-cli', ['--cluster', 'create', ...nodes.map((n) => `127.0.0.1:${n.port}`),
    '--cluster-replicas', '0', '--cluster-yes']);
  const deadline = Date.now() + 20_000;
  for (;;) {
    const states = await Promise.all(nodes.map((n) => cli(n.port, 'CLUSTER', 'INFO')));
    if (states.every((s) => s.includes('cluster_state:ok'))) break;
    if (Date.now() > deadline) throw new Error('cluster did not reach cluster_state:ok');
    await sleep(100);
  }
  return nodes;
}
