import { ArgumentError } from './errors.js';
import { toMs, type Duration } from './duration.js';

export const ALGORITHMS = ['TOKEN_BUCKET', 'GCRA', 'FIXED_WINDOW', 'SLIDING_WINDOW', 'SLIDING_LOG', 'CALENDAR'] as const;
export const CALENDAR_UNITS = ['DAY', 'WEEK', 'MONTH'] as const;
export type CalendarUnit = (typeof CALENDAR_UNITS)[number];
export type Algorithm = (typeof ALGORITHMS)[number];

/** One limit, as RL.CHECK takes it. */
export interface Limit {
  algorithm: Algorithm | Lowercase<Algorithm>;
  /** Units admitted per period. */
  limit: number;
  /** Milliseconds, or a duration string such as "1s", "1m", "1h"; for CALENDAR "DAY", "WEEK" or "MONTH". */
  period: Duration;
  /** TOKEN_BUCKET and GCRA only: units a rested limiter admits at once (default `limit`). */
  burst?: number;
  /** Units this request takes (default 1). */
  cost?: number;
  /** TOKEN_BUCKET and GCRA with cost: admit what is available now, up to cost (see `granted`). */
  atMost?: boolean;
  /** A penalty: when a check is denied, block the key for this long (every later check denied until then). */
  block?: Duration;
  /** CALENDAR only: the fixed offset from UTC, in minutes, its days begin in (-1080 .. 1080). */
  utcOffset?: number;
}

/** A server-side policy (RL.POLICY) by name: its limits live in the server. */
export interface PolicyLimit {
  policy: string;
  cost?: number;
  /** Admit everything but count what enforcement would deny (RL.CHECK only). */
  shadow?: boolean;
}

/** A limit after validation: what every code path below works with. */
export interface NormalLimit {
  algorithm: Algorithm;
  limit: number;
  periodMs: number;
  burst: number | undefined;
  cost: number;
  atMost: boolean;
  blockMs: number | undefined;
  /** CALENDAR: its unit (periodMs is then the unit's nominal length: 1, 7 or 31 days). */
  unit: CalendarUnit | undefined;
  utcOffset: number | undefined;
  /** A policy check: only `cost` (and `shadow`) apply; `limit` and `periodMs` are 0 (the server knows them). */
  policy?: string;
  shadow?: boolean;
}

export type Key = string | Buffer;

const MAX_LOG_PERIOD_MS = 4_294_967_295;
const DAY_MS = 86_400_000;
const CALENDAR_MS: Record<CalendarUnit, number> = { DAY: DAY_MS, WEEK: 7 * DAY_MS, MONTH: 31 * DAY_MS };

function positive(value: unknown, what: string, min = 1): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) {
    throw new ArgumentError(`${what}: expected an integer between ${min} and ${Number.MAX_SAFE_INTEGER}`);
  }
  return value;
}

/** Validates a limit before anything is sent; `minCost` is 0 for peeks. */
const POLICY_NAME = /^[A-Za-z0-9_.:-]{1,128}$/;

export function checkPolicyName(name: unknown): string {
  if (typeof name !== 'string' || !POLICY_NAME.test(name)) {
    throw new ArgumentError('policy: a policy name is 1 to 128 bytes of letters, digits, _, -, . or :');
  }
  return name;
}

export function normalize(given: Partial<Limit> | Partial<PolicyLimit> | undefined, minCost = 1): NormalLimit {
  const p: Partial<PolicyLimit> | undefined = given;
  if (p === undefined || p === null || typeof p !== 'object') {
    throw new ArgumentError('limit: no limit given (pass one to the call or as the `limit` option)');
  }
  if (p.policy !== undefined) {
    const cost = p.cost === undefined ? 1 : positive(p.cost, 'cost', minCost);
    return {
      algorithm: 'GCRA', limit: 0, periodMs: 0, burst: undefined, cost, atMost: false,
      blockMs: undefined, unit: undefined, utcOffset: undefined,
      policy: checkPolicyName(p.policy), shadow: p.shadow === true,
    };
  }
  if (p.shadow !== undefined) throw new ArgumentError('shadow: applies only to a { policy } limit');
  const l = given as Partial<Limit>;
  const algorithm = typeof l.algorithm === 'string' ? (l.algorithm.toUpperCase() as Algorithm) : undefined;
  if (algorithm === undefined || !ALGORITHMS.includes(algorithm)) {
    throw new ArgumentError(`algorithm: expected one of ${ALGORITHMS.join(', ')}`);
  }
  const limit = positive(l.limit, 'limit');
  let unit: CalendarUnit | undefined;
  let periodMs: number;
  if (algorithm === 'CALENDAR') {
    unit = typeof l.period === 'string' ? (l.period.toUpperCase() as CalendarUnit) : undefined;
    if (unit === undefined || !CALENDAR_UNITS.includes(unit)) throw new ArgumentError('period: a CALENDAR period is DAY, WEEK or MONTH');
    periodMs = CALENDAR_MS[unit];
  } else {
    periodMs = toMs(l.period as Duration, 'period');
  }
  let utcOffset: number | undefined;
  if (l.utcOffset !== undefined) {
    if (algorithm !== 'CALENDAR') throw new ArgumentError('utcOffset: applies only to CALENDAR');
    if (!Number.isSafeInteger(l.utcOffset) || Math.abs(l.utcOffset) > 1080) {
      throw new ArgumentError('utcOffset: expected whole minutes between -1080 and 1080');
    }
    utcOffset = l.utcOffset;
  }
  const blockMs = l.block === undefined ? undefined : toMs(l.block, 'block');
  const bucket = algorithm === 'TOKEN_BUCKET' || algorithm === 'GCRA';
  let burst: number | undefined;
  if (l.burst !== undefined) {
    if (!bucket) throw new ArgumentError('burst: applies only to TOKEN_BUCKET and GCRA');
    burst = positive(l.burst, 'burst');
  }
  const cost = l.cost === undefined ? 1 : positive(l.cost, 'cost', minCost);
  const atMost = l.atMost === true;
  if (atMost && !bucket) throw new ArgumentError('atMost: applies only to TOKEN_BUCKET and GCRA');
  if (algorithm === 'SLIDING_LOG' && periodMs > MAX_LOG_PERIOD_MS) {
    throw new ArgumentError('period: a SLIDING_LOG period is at most 4294967295ms (about 49 days)');
  }
  return { algorithm, limit, periodMs, burst, cost, atMost, blockMs, unit, utcOffset };
}

export function checkKey(key: unknown): Key {
  if (typeof key === 'string' || Buffer.isBuffer(key)) return key;
  throw new ArgumentError('key: expected a string or a Buffer');
}

/** The spec part of RL.CHECK / RL.PEEK / RL.MCHECK: algorithm limit period [BURST n] [COST n] [BLOCK ms] [UTC_OFFSET n] [AT_MOST]. */
export function specArgs(l: NormalLimit, withCost: boolean, withAtMost: boolean): string[] {
  if (l.policy !== undefined) {
    const p = ['POLICY', l.policy];
    if (withCost && l.cost !== 1) p.push('COST', String(l.cost));
    if (withAtMost && l.shadow === true) p.push('SHADOW');
    return p;
  }
  const args = [l.algorithm, String(l.limit), l.unit ?? String(l.periodMs)];
  if (l.burst !== undefined) args.push('BURST', String(l.burst));
  if (withCost && l.cost !== 1) args.push('COST', String(l.cost));
  if (l.blockMs !== undefined) args.push('BLOCK', String(l.blockMs));
  if (l.utcOffset !== undefined) args.push('UTC_OFFSET', String(l.utcOffset));
  if (withAtMost && l.atMost) {
    if (l.cost === 1) args.push('COST', '1');
    args.push('AT_MOST');
  }
  return args;
}
