/**
 * The global cap on sandbox child processes (config `plugin_processes_max`): every plugin's process
 * pool takes a slot before it starts a child and gives it back once that child has exited, so all
 * plugins together never run more than `max` children (20 plugins × 4 processes cannot fork-bomb
 * the host). A pool that finds no free slot waits in line; its calls stay queued, each bounded by its
 * own deadline. To make room, an idle child of another plugin is ended (even a plugin's last warm
 * one: under the cap, a waiting call beats a warm process), one at a time, oldest idle first.
 *
 * @module
 */

/** A pool waiting for a slot: whether it still needs one, and how to tell it one is free. */
export interface SlotWaiter {
  wants(): boolean;
  wake(): void;
}

/** The child-process slots shared by every process pool of one sandbox. */
export class ProcessSlots {
  readonly max: number;
  #used = 0;
  #waiting: SlotWaiter[] = [];
  /** Idle children another pool may reclaim, oldest first, each with how to end it. */
  #idle = new Map<object, () => void>();
  /** The idle child ended to make room, until its exit gives its slot back. */
  #reclaiming: object | undefined;

  constructor(max: number) {
    this.max = Math.max(1, max);
  }

  /** Children alive or starting, across all pools. */
  get used(): number {
    return this.#used;
  }

  /** Takes a slot if one is free; else `waiter` waits in line (woken once a slot frees) and false. */
  take(waiter: SlotWaiter): boolean {
    if (this.#used < this.max) {
      this.#used++;
      return true;
    }
    if (!this.#waiting.includes(waiter)) this.#waiting.push(waiter);
    this.#reclaim();
    return false;
  }

  /** `child` has exited (or never started): its slot goes to the first waiter that still wants one. */
  give(child: object): void {
    this.#used--;
    this.#idle.delete(child);
    if (this.#reclaiming === child) this.#reclaiming = undefined;
    while (this.#used < this.max && this.#waiting.length > 0) {
      const waiter = this.#waiting.shift()!;
      if (waiter.wants()) waiter.wake();
    }
    this.#reclaim();
  }

  /** An idle child that may be ended to make room (`end` kills it; its exit gives its slot back). */
  idle(child: object, end: () => void): void {
    this.#idle.delete(child);
    this.#idle.set(child, end);
    this.#reclaim();
  }

  /** The child is busy or gone: no longer reclaimable. */
  busy(child: object): void {
    this.#idle.delete(child);
  }

  /** Ends the oldest idle child if a waiter still needs a slot and none is being freed already. */
  #reclaim(): void {
    this.#waiting = this.#waiting.filter((waiter) => waiter.wants());
    if (this.#reclaiming !== undefined || this.#waiting.length === 0) return;
    const oldest = this.#idle.entries().next();
    if (oldest.done) return;
    const [child, end] = oldest.value;
    this.#idle.delete(child);
    this.#reclaiming = child;
    end();
  }
}
