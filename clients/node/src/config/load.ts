import { readFileSync } from 'node:fs';
import type { z } from 'zod';
import { toMs } from '../duration.js';
import { RateLimitError } from '../errors.js';
import type { Limit, PolicyLimit } from '../limit.js';
import type { RateLimiterOptions } from '../limiter.js';
import { configFile, section, type PolicyConfig, type Section } from './schema.js';

/** One thing wrong with a configuration: where (a field path in the file, or a variable's name) and what to fix. */
export interface ConfigIssue {
  path: string;
  message: string;
}

/** A configuration that cannot be used; `issues` lists every problem, not just the first. */
export class ConfigError extends RateLimitError {
  readonly issues: ConfigIssue[];
  constructor(source: string, issues: ConfigIssue[], options?: { cause?: unknown }) {
    super(`${source}: invalid rate-limit configuration:\n${issues.map((i) => `  ${i.path || '(top)'}: ${i.message}`).join('\n')}`, options);
    this.issues = issues;
  }
}

export interface LoadOptions {
  /** The JSON file (default $RL_CONFIG_FILE; neither: configuration from environment variables only). */
  file?: string;
  /** The environment's name (default $RL_ENV, then $NODE_ENV, then "development"). */
  env?: string;
  /** Where the RL_* overrides come from (default process.env). */
  environ?: Record<string, string | undefined>;
}

/** One environment's configuration, validated and ready to use. */
export interface RateLimitConfig {
  env: string;
  /** The file it came from, if any. */
  file: string | undefined;
  redisUrl: string | undefined;
  /** For `new RateLimiter(client, config.limiter)`. */
  limiter: RateLimiterOptions;
  /** The server policies this environment wants (see syncPolicies). */
  policies: Record<string, PolicyConfig>;
  policySync: 'replace' | 'merge' | 'off';
}

/** The environment variables read, and the field each overrides. */
export const ENV_VARS = {
  RL_REDIS_URL: 'redisUrl',
  RL_PREFIX: 'limiter.prefix',
  RL_TIMEOUT: 'limiter.timeout',
  RL_ON_UNAVAILABLE: 'limiter.onUnavailable',
  RL_DENIAL_CACHE: 'limiter.denialCache',
  RL_POLICIES: 'policies',
  RL_POLICY_SYNC: 'policySync',
} as const;

const pathOf = (p: readonly PropertyKey[]): string =>
  p.map((k, i) => (typeof k === 'number' ? `[${k}]` : i === 0 ? String(k) : `.${String(k)}`)).join('');

const issuesOf = (e: z.ZodError, at: (path: string) => string): ConfigIssue[] =>
  e.issues.map((i) => ({ path: at(pathOf(i.path)), message: i.message }));

/** The RL_* variables as a section; a variable that is not even parseable is an issue under its name. */
function fromEnviron(environ: Record<string, string | undefined>, issues: ConfigIssue[]): Section {
  const out: Record<string, unknown> = {};
  const limiter: Record<string, unknown> = {};
  const v = (name: keyof typeof ENV_VARS): string | undefined => {
    const s = environ[name];
    return s === undefined || s === '' ? undefined : s;
  };
  if (v('RL_REDIS_URL') !== undefined) out.redisUrl = v('RL_REDIS_URL');
  if (v('RL_POLICY_SYNC') !== undefined) out.policySync = v('RL_POLICY_SYNC');
  if (v('RL_PREFIX') !== undefined) limiter.prefix = v('RL_PREFIX');
  if (v('RL_TIMEOUT') !== undefined) limiter.timeout = v('RL_TIMEOUT');
  if (v('RL_ON_UNAVAILABLE') !== undefined) limiter.onUnavailable = v('RL_ON_UNAVAILABLE');
  const dc = v('RL_DENIAL_CACHE');
  if (dc !== undefined) {
    if (dc === 'true' || dc === 'false') limiter.denialCache = dc === 'true';
    else if (/^\d+$/.test(dc)) limiter.denialCache = { maxKeys: Number(dc) };
    else issues.push({ path: 'RL_DENIAL_CACHE', message: 'expected true, false or a number of keys' });
  }
  const pol = v('RL_POLICIES');
  if (pol !== undefined) {
    try {
      out.policies = JSON.parse(pol) as unknown;
    } catch (e) {
      issues.push({ path: 'RL_POLICIES', message: `expected JSON of { "name": { "limits": [...] } }: ${(e as Error).message}` });
    }
  }
  if (Object.keys(limiter).length > 0) out.limiter = limiter;
  const parsed = section.safeParse(out);
  if (parsed.success) return parsed.data;
  // Report under the variable's name, which is what the operator sets.
  const byField = new Map<string, string>(Object.entries(ENV_VARS).map(([k, f]) => [f, k]));
  issues.push(
    ...issuesOf(parsed.error, (p) => {
      const field = [...byField.keys()].find((f) => p === f || p.startsWith(`${f}.`) || p.startsWith(`${f}[`));
      return field === undefined ? p : `${byField.get(field) ?? field}${p.slice(field.length)}`;
    }),
  );
  return {};
}

/** Reads and validates the file (every environment in it, so a typo in production fails in CI too). */
export function parseConfigText(text: string, source: string): z.infer<typeof configFile> {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new ConfigError(source, [{ path: '', message: `not JSON: ${(e as Error).message}` }], { cause: e });
  }
  const parsed = configFile.safeParse(json);
  if (!parsed.success) throw new ConfigError(source, issuesOf(parsed.error, (p) => p));
  return parsed.data;
}

const ms = (d: string | number | undefined, what: string): number | undefined =>
  d === undefined ? undefined : toMs(d, what);

/** A section (defaults, then the environment, then the variables) as RateLimiter options. */
function limiterOptions(s: Section['limiter']): RateLimiterOptions {
  const o: RateLimiterOptions = {};
  if (s === undefined) return o;
  if (s.limit !== undefined) o.limit = s.limit as unknown as Limit | PolicyLimit;
  if (s.prefix !== undefined) o.prefix = s.prefix;
  if (s.timeout !== undefined) o.timeout = s.timeout === 0 || s.timeout === '0' ? 0 : toMs(s.timeout, 'timeout');
  if (s.onUnavailable !== undefined) o.onUnavailable = s.onUnavailable;
  if (s.denialCache !== undefined) o.denialCache = s.denialCache;
  if (s.localMaxKeys !== undefined) o.localMaxKeys = s.localMaxKeys;
  if (s.breaker === false) o.breaker = false;
  else if (s.breaker !== undefined) {
    o.breaker = {
      failures: s.breaker.failures,
      windowMs: ms(s.breaker.window, 'breaker.window'),
      cooldownMs: ms(s.breaker.cooldown, 'breaker.cooldown'),
      probes: s.breaker.probes,
    };
  }
  return o;
}

function merge(...sections: (Section | undefined)[]): Section {
  const out: Section = {};
  for (const s of sections) {
    if (s === undefined) continue;
    if (s.redisUrl !== undefined) out.redisUrl = s.redisUrl;
    if (s.policySync !== undefined) out.policySync = s.policySync;
    if (s.limiter !== undefined) {
      const b = s.limiter.breaker;
      const prev = out.limiter?.breaker;
      out.limiter = { ...out.limiter, ...s.limiter };
      if (b !== undefined && b !== false && prev !== undefined && prev !== false) out.limiter.breaker = { ...prev, ...b };
    }
    // Policies merge by name: an environment adds to or replaces the defaults' policies.
    if (s.policies !== undefined) out.policies = { ...out.policies, ...s.policies };
  }
  return out;
}

/**
 * One environment's configuration from a file and/or RL_* environment variables, validated.
 * Throws a ConfigError naming every bad field (file path such as
 * `environments.production.policies.pro.limits[0].limit`, or the variable's name).
 */
export function loadConfig(opts: LoadOptions = {}): RateLimitConfig {
  const environ = opts.environ ?? process.env;
  const env = opts.env ?? environ.RL_ENV ?? environ.NODE_ENV ?? 'development';
  const file = opts.file ?? (environ.RL_CONFIG_FILE === '' ? undefined : environ.RL_CONFIG_FILE);
  let fromFile: ReturnType<typeof parseConfigText> | undefined;
  if (file !== undefined) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (e) {
      throw new ConfigError(file, [{ path: '', message: `cannot be read: ${(e as Error).message}` }], { cause: e });
    }
    fromFile = parseConfigText(text, file);
    if (!(env in fromFile.environments)) {
      const known = Object.keys(fromFile.environments).join(', ') || 'none';
      throw new ConfigError(file, [{ path: 'environments', message: `has no "${env}" section (it has: ${known}); add one or set RL_ENV/NODE_ENV` }]);
    }
  }
  const issues: ConfigIssue[] = [];
  const vars = fromEnviron(environ, issues);
  if (issues.length > 0) throw new ConfigError('environment variables', issues);
  const s = merge(fromFile?.defaults, fromFile?.environments[env], vars);
  return {
    env,
    file,
    redisUrl: s.redisUrl,
    limiter: limiterOptions(s.limiter),
    policies: s.policies ?? {},
    policySync: s.policySync ?? 'replace',
  };
}
