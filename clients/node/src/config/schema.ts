import { z } from 'zod';
import { ALGORITHMS, CALENDAR_UNITS, normalize } from '../limit.js';
import { RateLimitError } from '../errors.js';

// The schema mirrors the server's own rules (docs/commands.md, RL.POLICY and RL.CHECK) so that a
// mistake is reported with the file's field path before anything reaches the server; the server
// still has the last word (a LOAD it refuses changes nothing).

const DURATION = /^\d+(ms|s|m|h|d)?$/i;
const durationHint = 'expected a duration: digits, optionally followed by ms, s, m, h or d (e.g. "1s", "500ms"), or a number of milliseconds >= 1';
const positiveInt = (what: string) => z.number({ error: `expected ${what}: an integer >= 1` }).int({ error: `expected ${what}: an integer >= 1` }).min(1, { error: `expected ${what}: an integer >= 1` });

// Each branch carries the hint: zod reports the branch that matched the input's type.
const durationOf = (pattern: RegExp, hint: string) =>
  z.union([z.number().int({ error: hint }).min(1, { error: hint }), z.string().regex(pattern, { error: hint })], { error: hint });
export const duration = durationOf(DURATION, durationHint);

const algorithm = z
  .string({ error: `expected an algorithm: one of ${ALGORITHMS.join(', ')}` })
  .transform((s) => s.toUpperCase())
  .pipe(z.enum(ALGORITHMS, { error: `expected an algorithm: one of ${ALGORITHMS.join(', ')}` }));

/** One limit of a policy, with RL.POLICY's field names. */
const policyLimit = z
  .strictObject(
    {
      algorithm,
      limit: positiveInt('the units admitted per period'),
      period: durationOf(new RegExp(`^(\\d+(ms|s|m|h|d)?|${CALENDAR_UNITS.join('|')})$`, 'i'), `${durationHint}; for CALENDAR, DAY, WEEK or MONTH`).optional(),
      period_ms: positiveInt('milliseconds').optional(),
      burst: positiveInt('a burst').optional(),
      utc_offset: z.number().int().min(-1080).max(1080, { error: 'expected minutes from UTC, -1080 to 1080' }).optional(),
      block: duration.optional(),
      block_ms: positiveInt('milliseconds').optional(),
    },
    { error: 'expected a limit: { algorithm, limit, period (or period_ms), burst?, utc_offset?, block? } and no other field' },
  )
  .superRefine((l, ctx) => {
    if ((l.period === undefined) === (l.period_ms === undefined)) {
      ctx.addIssue({ code: 'custom', path: ['period'], message: 'give exactly one of period and period_ms' });
    }
    if (l.block !== undefined && l.block_ms !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['block'], message: 'give one of block and block_ms, not both' });
    }
    if (l.burst !== undefined && l.algorithm !== 'TOKEN_BUCKET' && l.algorithm !== 'GCRA') {
      ctx.addIssue({ code: 'custom', path: ['burst'], message: 'burst is for TOKEN_BUCKET and GCRA only' });
    }
  });

export const policy = z.strictObject(
  {
    limits: z.array(policyLimit, { error: 'expected limits: an array of 1 to 8 limits' }).min(1, { error: 'expected 1 to 8 limits' }).max(8, { error: 'expected 1 to 8 limits' }),
    shadow: z.boolean({ error: 'expected shadow: true or false' }).optional(),
  },
  { error: 'expected a policy: { limits: [...], shadow? } and no other field' },
);

export const policyName = z.string().regex(/^[A-Za-z0-9_.:-]{1,128}$/, { error: 'a policy name is 1 to 128 letters, digits, _, -, . or :' });
const NAME_HINT = 'a policy name is 1 to 128 letters, digits, _, -, . or :';
export const policies = z.record(policyName, policy, {
  error: (iss) => (iss.code === 'invalid_key' ? NAME_HINT : 'expected policies: { "name": { limits: [...] }, ... }'),
});

/** The limiter's default limit: checked by the same code `new RateLimiter` uses, with its message. */
const defaultLimit = z.record(z.string(), z.unknown()).superRefine((l, ctx) => {
  try {
    normalize(l);
  } catch (e) {
    ctx.addIssue({ code: 'custom', message: e instanceof RateLimitError ? e.message : String(e) });
  }
});

const breaker = z.union([
  z.literal(false),
  z.strictObject({
    failures: positiveInt('failures').optional(),
    window: duration.optional(),
    cooldown: duration.optional(),
    probes: positiveInt('probes').optional(),
  }),
], { error: 'expected breaker: false or { failures?, window?, cooldown?, probes? }' });

export const limiterSection = z.strictObject({
  limit: defaultLimit.optional(),
  prefix: z.string().optional(),
  timeout: z.union([z.literal(0), z.literal('0'), duration], { error: `timeout: 0 (no timeout) or ${durationHint}` }).optional(),
  onUnavailable: z.enum(['open', 'closed', 'local', 'throw'], { error: 'expected onUnavailable: "open", "closed", "local" or "throw"' }).optional(),
  breaker: breaker.optional(),
  denialCache: z.union([z.boolean(), z.strictObject({ maxKeys: positiveInt('maxKeys').optional() })], { error: 'expected denialCache: true, false or { maxKeys }' }).optional(),
  localMaxKeys: positiveInt('localMaxKeys').optional(),
});

/** One environment's settings (and the file's `defaults`, which every environment starts from). */
export const section = z.strictObject({
  redisUrl: z.url({ protocol: /^rediss?$/, error: 'expected redisUrl: a redis:// or rediss:// URL' }).optional(),
  limiter: limiterSection.optional(),
  policies: policies.optional(),
  /** "replace" (default): the server's set becomes exactly these (RL.POLICY LOAD); "merge": SET these, DEL only those this process set before. */
  policySync: z.enum(['replace', 'merge', 'off'], { error: 'expected policySync: "replace", "merge" or "off"' }).optional(),
});

export const configFile = z.strictObject(
  {
    defaults: section.optional(),
    environments: z.record(z.string(), section, { error: 'expected environments: { "development": {...}, "production": {...} }' }),
  },
  { error: 'expected { defaults?, environments: { name: {...} } } and no other field' },
);

export type Section = z.infer<typeof section>;
export type PolicyConfig = z.infer<typeof policy>;
