/** Breaker thresholds (defaults: 5 failures in 10 s open it for 5 s, then 1 probe). */
export interface BreakerOptions {
  /** Unavailable errors within `windowMs` that open the breaker. */
  failures?: number;
  windowMs?: number;
  /** How long it stays open before letting probes through. */
  cooldownMs?: number;
  /** Calls let through while half-open; a success closes it, a failure opens it again. */
  probes?: number;
}

export type BreakerState = 'closed' | 'half-open' | 'open';

/** closed -> open -> half-open -> closed (or open again), counted in this process only. */
export class CircuitBreaker {
  readonly failures: number;
  readonly windowMs: number;
  readonly cooldownMs: number;
  readonly probes: number;
  private current: BreakerState = 'closed';
  private recent: number[] = [];
  private openedAt = 0;
  private probing = 0;

  constructor(
    opts: BreakerOptions = {},
    private readonly onChange: (s: BreakerState) => void = () => {},
    private readonly now: () => number = Date.now,
  ) {
    this.failures = opts.failures ?? 5;
    this.windowMs = opts.windowMs ?? 10_000;
    this.cooldownMs = opts.cooldownMs ?? 5_000;
    this.probes = opts.probes ?? 1;
  }

  get state(): BreakerState {
    if (this.current === 'open' && this.now() >= this.openedAt + this.cooldownMs) this.move('half-open');
    return this.current;
  }

  /** Milliseconds until an open breaker lets a probe through (0 unless open). */
  get openRemainingMs(): number {
    return this.state === 'open' ? Math.max(0, this.openedAt + this.cooldownMs - this.now()) : 0;
  }

  /** Whether a call may go to the server now; a half-open breaker counts it as a probe. */
  tryAcquire(): boolean {
    const s = this.state;
    if (s === 'closed') return true;
    if (s === 'open') return false;
    if (this.probing >= this.probes) return false;
    this.probing++;
    return true;
  }

  success(): void {
    if (this.current === 'half-open') {
      this.recent = [];
      this.move('closed');
    }
  }

  /** An unavailable error (never an argument or server error). */
  failure(): void {
    const t = this.now();
    if (this.current === 'half-open') {
      this.open(t);
      return;
    }
    if (this.current === 'open') return;
    this.recent.push(t);
    while (this.recent.length > 0 && this.recent[0] <= t - this.windowMs) this.recent.shift();
    if (this.recent.length >= this.failures) this.open(t);
  }

  /** A call that neither succeeded nor failed (argument or server error) frees its probe slot. */
  neutral(wasProbe: boolean): void {
    if (wasProbe && this.current === 'half-open' && this.probing > 0) this.probing--;
  }

  private open(t: number): void {
    this.openedAt = t;
    this.recent = [];
    this.move('open');
  }

  private move(s: BreakerState): void {
    if (s === this.current) return;
    this.current = s;
    this.probing = 0;
    this.onChange(s);
  }
}
