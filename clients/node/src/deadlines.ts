interface Entry {
  at: number;
  done: boolean;
  onTimeout: () => void;
}

/**
 * Per-call timeouts with one timer. Every call of a limiter has the same timeout, so deadlines
 * arrive in order: a FIFO whose head holds the only armed timer. A setTimeout per call halved the
 * throughput of a busy limiter (64 calls in flight); this keeps the cost to a push and a flag.
 */
export class Deadlines {
  private queue: Entry[] = [];
  private head = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly ms: number) {}

  /** Calls `onTimeout` after the timeout unless `settle` is called on the result first. */
  add(onTimeout: () => void): Entry {
    const e: Entry = { at: performance.now() + this.ms, done: false, onTimeout };
    this.queue.push(e);
    if (this.timer === undefined) this.arm(e.at);
    return e;
  }

  private arm(at: number): void {
    this.timer = setTimeout(this.fire, Math.max(1, Math.ceil(at - performance.now())));
    this.timer.unref();
  }

  private readonly fire = (): void => {
    this.timer = undefined;
    const now = performance.now();
    const q = this.queue;
    while (this.head < q.length && (q[this.head].done || q[this.head].at <= now)) {
      const e = q[this.head++];
      if (!e.done) {
        e.done = true;
        e.onTimeout();
      }
    }
    if (this.head === q.length) {
      this.queue = [];
      this.head = 0;
      return;
    }
    if (this.head > 1024) {
      this.queue = q.slice(this.head);
      this.head = 0;
    }
    this.arm(this.queue[this.head].at);
  };
}
