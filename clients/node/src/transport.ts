import { ArgumentError } from './errors.js';
import type { Key } from './limit.js';
import { keySlot } from './slot.js';

/**
 * One way to send a raw command to the server that owns `key`. Built once from the user's
 * client; the limiter never imports a Redis library, so the package has no dependency.
 */
export type Send = ((
  key: Key | undefined,
  readonly: boolean,
  args: (string | Buffer)[],
  signal?: AbortSignal,
) => Promise<unknown>) & {
  /** The client drops a command whose signal aborted before it was written (node-redis). */
  abortable?: boolean;
};

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
interface NodeRedisSentinel {
  sendCommand(isReadonly: boolean | undefined, args: (string | Buffer)[], options?: AbortOptions): Promise<unknown>;
  getMasterNode(): unknown;
}
interface IoRedisLike {
  call(name: string, ...args: (string | Buffer)[]): Promise<unknown>;
  isCluster?: boolean;
  slots?: string[][];
  nodes?: (role: string) => IoRedisLike[];
  options?: { host?: string; port?: number };
}

/**
 * A client that `new RateLimiter` accepts: node-redis 4/5 client or cluster, node-redis 5 Sentinel
 * (createSentinel), ioredis Redis (also with `sentinels`) or Cluster, or a Send.
 */
export type RedisLike = NodeRedisClient | NodeRedisCluster | NodeRedisSentinel | IoRedisLike | { send: Send };

function isIoRedis(c: object): c is IoRedisLike {
  return typeof (c as IoRedisLike).call === 'function' && 'status' in c;
}

// node-redis clusters take (firstKey, isReadonly, args); single clients take (args).
function isNodeRedisCluster(c: object): c is NodeRedisCluster {
  return typeof (c as NodeRedisCluster).sendCommand === 'function' && 'masters' in c && 'slots' in c;
}

/**
 * ioredis routes only the commands it knows by key: RL.* would go to a random master and come
 * back MOVED. This sends each to the master that owns its slot in ioredis's own slot map, and
 * leaves anything unusual (no map yet, a slot moved) to ioredis's redirect handling.
 */
function ioClusterSend(cluster: IoRedisLike): Send {
  const byAddress = new Map<string, IoRedisLike>();
  const owner = (key: Key): IoRedisLike | undefined => {
    const address = cluster.slots?.[keySlot(key)]?.[0];
    if (address === undefined) return undefined;
    let node = byAddress.get(address);
    if (node === undefined) {
      node = cluster.nodes?.('master').find((n) => `${n.options?.host}:${n.options?.port}` === address);
      if (node !== undefined) byAddress.set(address, node);
    }
    return node;
  };
  return async (key, _ro, args) => {
    const name = String(args[0]);
    const rest = args.slice(1);
    const node = key === undefined ? undefined : owner(key);
    if (node === undefined) return cluster.call(name, ...rest);
    try {
      return await node.call(name, ...rest);
    } catch (e) {
      // A slot that moved ran nothing there: ioredis follows the redirect and updates its map.
      if (!(e instanceof Error) || !/^(MOVED|ASK) /.test(e.message)) throw e;
      byAddress.clear();
      return cluster.call(name, ...rest);
    }
  };
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
    return ioClusterSend(client);
  }
  if (isNodeRedisCluster(client)) {
    const send: Send = (key, ro, args, sig) => client.sendCommand(key, ro, args, abortOptions(sig));
    send.abortable = true;
    return send;
  }
  // node-redis 5's createSentinel takes (isReadonly, args): RL.* writes go to the master.
  if (typeof (client as NodeRedisSentinel).getMasterNode === 'function' && 'getReplicaNodes' in client) {
    const c = client as NodeRedisSentinel;
    const send: Send = (_key, ro, args, sig) => c.sendCommand(ro, args, abortOptions(sig));
    send.abortable = true;
    return send;
  }
  if (typeof (client as NodeRedisClient).sendCommand === 'function') {
    const c = client as NodeRedisClient;
    const send: Send = (_key, _ro, args, sig) => c.sendCommand(args, abortOptions(sig));
    send.abortable = true;
    return send;
  }
  throw new ArgumentError('client: expected a node-redis or ioredis client (or cluster), or { send }');
}
