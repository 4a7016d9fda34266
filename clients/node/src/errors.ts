/**
 * The three error classes every redis-ratelimit client shares (see docs/clients/node.md):
 * ArgumentError and ServerError are the caller's to fix and never trip the breaker;
 * UnavailableError is the server being out of reach, handled by the onUnavailable policy.
 */

export class RateLimitError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** The limit, key or options are invalid: raised before the network where possible. */
export class ArgumentError extends RateLimitError {}

/** The server refused the command (WRONGTYPE, algorithm mismatch, NOPERM, unknown command, ...). */
export class ServerError extends RateLimitError {
  /** The reply's first word: ERR, WRONGTYPE, NOPERM, ... */
  readonly code: string;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = /^[A-Z]+/.exec(message)?.[0] ?? 'ERR';
  }
}

/** The server could not be reached in time: connection refused or lost, timeout, breaker open. */
export class UnavailableError extends RateLimitError {}

// Reply errors of node-redis (ErrorReply, SimpleError, BlobError) and ioredis (ReplyError).
const REPLY_ERROR_NAMES = new Set(['ErrorReply', 'SimpleError', 'BlobError', 'ReplyError']);
// Replies that mean "this server cannot answer right now", not "your command is wrong".
const TRANSIENT_CODES = /^(LOADING|BUSY|TRYAGAIN|CLUSTERDOWN|MASTERDOWN|READONLY|NOREPLICAS|MOVED|ASK)\b/;

function isReplyError(err: unknown): err is Error {
  for (let p: unknown = err; p !== null && typeof p === 'object'; p = Object.getPrototypeOf(p)) {
    const name = (p as { constructor?: { name?: string } }).constructor?.name;
    if (name !== undefined && REPLY_ERROR_NAMES.has(name)) return true;
  }
  return false;
}

/** Turns whatever the Redis client threw into one of the three classes. */
export function classify(err: unknown): RateLimitError {
  if (err instanceof RateLimitError) return err;
  if (isReplyError(err)) {
    const msg = err.message;
    if (TRANSIENT_CODES.test(msg)) return new UnavailableError(`server unavailable: ${msg}`, { cause: err });
    if (/^ERR (argument \d+|wrong number of arguments|numkeys|a key appears more than once)/.test(msg)) {
      return new ArgumentError(msg, { cause: err });
    }
    return new ServerError(msg, { cause: err });
  }
  const msg = err instanceof Error ? err.message : String(err);
  return new UnavailableError(`server unavailable: ${msg}`, { cause: err });
}
