import { ArgumentError } from './errors.js';
import type { Key } from './limit.js';

/**
 * One way to send a raw command to the server that owns `key`. Built once from the user's
 * client; the limiter never imports a Redis library, so the package has no dependency.
 */
export type Send = (
  key: Key | undefined,
  readonly: boolean,
  args: (string | Buffer)[],
  signal?: AbortSignal,
) => Promise<unknown>;

// node-redis 4 calls it `signal`, 5 `abortSignal`: a timed-out command still in the offline
// queue is dropped instead of charging the key when the connection comes back.
type AbortOptions = { signal?: AbortSignal; abortSignal?: AbortSignal } | undefined;
const abortOptions = (signal: AbortSignal | undefined): AbortOptions =>
  signal === undefined ? undefined : { signal, abortSignal: signal };

interface NodeRedisClient {
  sendCommand(args: (string | Buffer)[], options?: AbortOptions): Promise<unknown>;
}
interface NodeRedisCluster {
  sendCommand(
    firstKey: Key | undefined,
    isReadonly: boolean | undefined,
    args: (string | Buffer)[],
    options?: AbortOptions,
  ): Promise<unknown>;
}
interface IoRedisCommandCtor {
  new (name: string, args: (string | Buffer)[], options: { replyEncoding: string }): IoRedisCommand;
}
interface IoRedisCommand {
  promise: Promise<unknown>;
  keys?: Key[];
}
interface IoRedisLike {
  call(name: string, ...args: (string | Buffer)[]): Promise<unknown>;
  sendCommand(cmd: IoRedisCommand): unknown;
  isCluster?: boolean;
  nodes?: () => object[];
}

/** A client that `new RateLimiter` accepts: node-redis 4/5 client or cluster, ioredis Redis or Cluster, or a Send. */
export type RedisLike = NodeRedisClient | NodeRedisCluster | IoRedisLike | { send: Send };

function isIoRedis(c: object): c is IoRedisLike {
  return typeof (c as IoRedisLike).call === 'function' && 'status' in c;
}

// node-redis clusters take (firstKey, isReadonly, args); single clients take (args).
function isNodeRedisCluster(c: object): c is NodeRedisCluster {
  return typeof (c as NodeRedisCluster).sendCommand === 'function' && 'masters' in c && 'slots' in c;
}

function ioCommandCtor(c: IoRedisLike): IoRedisCommandCtor | undefined {
  const node = c.nodes?.()[0];
  return (node?.constructor as { Command?: IoRedisCommandCtor } | undefined)?.Command;
}

export function transportFor(client: RedisLike): Send {
  if (client === null || typeof client !== 'object') {
    throw new ArgumentError('client: expected a node-redis or ioredis client (or cluster), or { send }');
  }
  if ('send' in client && typeof client.send === 'function') return client.send;
  if (isIoRedis(client)) {
    if (client.isCluster !== true) {
      return (_key, _ro, args) => client.call(String(args[0]), ...args.slice(1));
    }
    // ioredis routes only the commands it knows by key; RL.* would go to a random node and be
    // redirected. A Command carrying its key is routed to the slot's owner at once.
    return (key, _ro, args) => {
      const Ctor = ioCommandCtor(client);
      if (Ctor === undefined || key === undefined) return client.call(String(args[0]), ...args.slice(1));
      const cmd = new Ctor(String(args[0]), args.slice(1), { replyEncoding: 'utf8' });
      cmd.keys = [key];
      void client.sendCommand(cmd);
      return cmd.promise;
    };
  }
  if (isNodeRedisCluster(client)) return (key, ro, args, sig) => client.sendCommand(key, ro, args, abortOptions(sig));
  if (typeof (client as NodeRedisClient).sendCommand === 'function') {
    const c = client as NodeRedisClient;
    return (_key, _ro, args, sig) => c.sendCommand(args, abortOptions(sig));
  }
  throw new ArgumentError('client: expected a node-redis or ioredis client (or cluster), or { send }');
}
