// The Redis clients the package supports, each connected the way an application would.
import { createClient, createCluster } from 'redis';
import { createClient as createClient4, createCluster as createCluster4 } from 'redis4';
import { Redis, Cluster } from 'ioredis';

async function connected(c) {
  c.on('error', () => {}); // reconnects are the tests' business; node-redis throws on unhandled 'error'
  await c.connect();
  return c;
}

/** name -> (port) => connected client; close with closeClient. */
export const FLAVOURS = {
  'node-redis 4 (RESP2)': (port) => connected(createClient4({ url: `redis://127.0.0.1:${port}` })),
  'node-redis 5 (RESP2)': (port) => connected(createClient({ url: `redis://127.0.0.1:${port}` })),
  'node-redis 5 (RESP3)': (port) => connected(createClient({ url: `redis://127.0.0.1:${port}`, RESP: 3 })),
  ioredis: async (port) => {
    const c = new Redis({ port, host: '127.0.0.1', lazyConnect: true });
    await c.connect();
    return c;
  },
};

export const CLUSTER_FLAVOURS = {
  'node-redis 4 cluster': (ports) =>
    connected(createCluster4({ rootNodes: ports.map((p) => ({ url: `redis://127.0.0.1:${p}` })) })),
  'node-redis 5 cluster (RESP3)': (ports) =>
    connected(createCluster({ rootNodes: ports.map((p) => ({ url: `redis://127.0.0.1:${p}` })), RESP: 3 })),
  'ioredis Cluster': async (ports) => {
    const c = new Cluster(ports.map((port) => ({ host: '127.0.0.1', port })), { lazyConnect: true });
    await c.connect();
    return c;
  },
};

export async function closeClient(c) {
  if (typeof c.disconnect === 'function' && 'status' in c) return c.disconnect();
  if (typeof c.destroy === 'function') return c.destroy();
  return c.disconnect();
}
