// A pool of named slots (GPUs or CPU lanes): one verification per slot at a time, FIFO waiters.
export class SlotPool {
  private readonly free: string[];
  private readonly waiters: { resolve: (slot: string) => void; reject: (err: unknown) => void; signal: AbortSignal }[] = [];

  constructor(slots: string[]) {
    if (slots.length === 0) throw new Error('a verification worker needs at least one slot');
    this.free = [...slots];
  }

  acquire(signal: AbortSignal): Promise<string> {
    if (signal.aborted) return Promise.reject(signal.reason);
    const slot = this.free.shift();
    if (slot !== undefined) return Promise.resolve(slot);
    return new Promise((resolve, reject) => {
      const waiter = { resolve, reject, signal };
      this.waiters.push(waiter);
      signal.addEventListener('abort', () => {
        const i = this.waiters.indexOf(waiter);
        if (i >= 0) this.waiters.splice(i, 1);
        reject(signal.reason);
      }, { once: true });
    });
  }

  release(slot: string): void {
    const next = this.waiters.shift();
    if (next) next.resolve(slot);
    else this.free.push(slot);
  }
}
