import type { NormalLimit } from '../limit.js';
import type { Decision } from '../reply.js';

/**
 * Which IETF httpapi RateLimit header draft to send: draft-6 (RateLimit-Limit/-Remaining/-Reset),
 * draft-7 (one RateLimit field; express-rate-limit's "draft-7"), draft-8 (named policies), or none.
 */
export type HeaderStyle = 'draft-6' | 'draft-7' | 'draft-8' | false;

const seconds = (ms: number): number => Math.max(0, Math.ceil(ms / 1000));

/** The response headers for one decision; Retry-After (rounded up) only for a retryable denial. */
export function rateLimitHeaders(
  d: Decision,
  l: NormalLimit,
  style: HeaderStyle,
  policyName = 'default',
): [string, string][] {
  const h: [string, string][] = [];
  const w = seconds(l.periodMs);
  // A policy's windows are in the server; its RateLimit-Policy has no w= then.
  const window = l.policy === undefined ? `;w=${w}` : '';
  const reset = seconds(d.resetAfterMs);
  if (style === 'draft-6') {
    h.push(['RateLimit-Policy', `${d.limit}${window}`], ['RateLimit-Limit', String(d.limit)]);
    h.push(['RateLimit-Remaining', String(d.remaining)], ['RateLimit-Reset', String(reset)]);
  } else if (style === 'draft-7') {
    h.push(['RateLimit-Policy', `${d.limit}${window}`]);
    h.push(['RateLimit', `limit=${d.limit}, remaining=${d.remaining}, reset=${reset}`]);
  } else if (style === 'draft-8') {
    h.push(['RateLimit-Policy', `"${policyName}";q=${d.limit}${window}`]);
    h.push(['RateLimit', `"${policyName}";r=${d.remaining};t=${reset}`]);
  }
  if (!d.allowed && d.retryAfterMs >= 0) h.push(['Retry-After', String(Math.max(1, seconds(d.retryAfterMs)))]);
  return h;
}
