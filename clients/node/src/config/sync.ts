import type { Policy, RateLimiter } from '../limiter.js';
import type { RateLimitConfig } from './load.js';

/** What syncPolicies did. */
export interface SyncResult {
  mode: RateLimitConfig['policySync'];
  /** Policies created or replaced (on each target). */
  set: string[];
  /** Policies removed (merge mode: only those an earlier sync of this state set). */
  deleted: string[];
}

/** Remembers, between syncs, which policies this process set and as what (merge mode). */
export class SyncState {
  readonly applied = new Map<string, string>();
}

/**
 * Makes the server's policies what `config.policies` says, on every target (give one limiter per
 * Cluster primary: policies are per server, not keys).
 *
 * - "replace" (default): RL.POLICY LOAD of the whole set, atomic: the server then has exactly these,
 *   and a set the server refuses replaces nothing.
 * - "merge": RL.POLICY SET of each policy that is new or changed since the last sync with `state`,
 *   and DEL of those that earlier syncs set and the config no longer has; other policies are left
 *   alone. Not atomic: if the server refuses one, those before it are already set.
 * - "off": nothing.
 */
export async function syncPolicies(
  targets: RateLimiter | RateLimiter[],
  config: Pick<RateLimitConfig, 'policies' | 'policySync'>,
  state: SyncState = new SyncState(),
): Promise<SyncResult> {
  const list = Array.isArray(targets) ? targets : [targets];
  const mode = config.policySync;
  const policies = config.policies as Record<string, Policy>;
  if (mode === 'off') return { mode, set: [], deleted: [] };
  if (mode === 'replace') {
    await Promise.all(list.map((l) => l.policyLoad(policies)));
    state.applied.clear();
    for (const [name, p] of Object.entries(policies)) state.applied.set(name, JSON.stringify(p));
    return { mode, set: Object.keys(policies), deleted: [] };
  }
  const set: string[] = [];
  const deleted: string[] = [];
  for (const [name, p] of Object.entries(policies)) {
    const json = JSON.stringify(p);
    if (state.applied.get(name) === json) continue;
    await Promise.all(list.map((l) => l.policySet(name, p)));
    state.applied.set(name, json);
    set.push(name);
  }
  for (const name of [...state.applied.keys()]) {
    if (name in policies) continue;
    await Promise.all(list.map((l) => l.policyDel(name)));
    state.applied.delete(name);
    deleted.push(name);
  }
  return { mode, set, deleted };
}
