// A manual clock implementing the client's Clock: time moves only when the test says so.
import { settle } from "./wait.js";

export class ManualClock {
  constructor(start = Date.now()) {
    this.time = start;
    this.timers = new Map();
    this.nextId = 1;
  }

  now() {
    return this.time;
  }

  setTimeout(callback, ms) {
    const id = this.nextId++;
    this.timers.set(id, { at: this.time + Math.max(0, ms), callback, ms });
    return id;
  }

  clearTimeout(id) {
    this.timers.delete(id);
  }

  /** Delays (ms) of the timers still pending, in creation order. */
  pendingDelays() {
    return [...this.timers.values()].map((timer) => timer.ms);
  }

  /** Move time forward by `ms`, firing due timers in order, letting promises settle between. */
  async advance(ms) {
    const end = this.time + ms;
    for (;;) {
      const due = [...this.timers.entries()]
        .filter(([, timer]) => timer.at <= end)
        .sort((a, b) => a[1].at - b[1].at || a[0] - b[0])[0];
      if (due === undefined) {
        break;
      }
      const [id, timer] = due;
      this.timers.delete(id);
      this.time = Math.max(this.time, timer.at);
      timer.callback();
      await settle();
    }
    this.time = end;
    await settle();
  }
}
