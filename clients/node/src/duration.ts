import { ArgumentError } from './errors.js';

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/**
 * A period as the server accepts it: milliseconds as a number, or a string of digits with an
 * optional unit (ms, s, m, h, d; none means milliseconds, as on the server).
 */
export type Duration = number | string;

export function toMs(value: Duration, what: string): number {
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value) || value < 1) {
      throw new ArgumentError(`${what}: expected a whole number of milliseconds >= 1 or a duration such as "1s", "1m"`);
    }
    return value;
  }
  if (typeof value === 'string') {
    const m = /^(\d+)(ms|s|m|h|d)?$/i.exec(value);
    if (m !== null) {
      const ms = Number(m[1]) * UNIT_MS[(m[2] ?? 'ms').toLowerCase()];
      if (Number.isSafeInteger(ms) && ms >= 1) return ms;
    }
  }
  throw new ArgumentError(
    `${what}: expected a duration: digits, optionally followed by ms, s, m, h or d (no unit: milliseconds), or a number of milliseconds`,
  );
}
