/**
 * Protocol v2: what a device shows, built only from the stream (pure, no I/O).
 *
 * The welcome gives the counts at the server's head; each stream entry is applied in order:
 * a notification is held unread and unarchived (and retracts what it `replaces`), a change
 * sets its state on the seqs it names and, with `upto`, on every held seq up to it that is not
 * retracted; `trim` drops seqs. The counts of an entry above the welcome's head replace the
 * welcome's (entries at or below it are history the welcome's counts already include).
 * Changes are set operations, so applying one twice is the same as once.
 */

import type { WelcomeFrame } from "./frames.js";
import type { Counts, ItemState, StateChange, StreamEntry } from "./types.js";

const SETS: Record<string, [keyof ItemState, boolean]> = {
  read: ["read", true],
  unread: ["read", false],
  archive: ["archived", true],
  unarchive: ["archived", false],
  retract: ["retracted", true],
};

const FRESH: ItemState = { read: false, archived: false, retracted: false };

export class InboxState {
  private readonly held = new Map<number, ItemState>();
  private current: Counts | null = null;
  private welcomeHead = 0;
  private highestSeq = 0;

  /** The counts, or null before the first welcome. */
  get counts(): Counts | null {
    return this.current;
  }

  /** The highest seq known (held, or the server's head at the welcome). */
  get seqHead(): number {
    return this.highestSeq;
  }

  /** The state of notification `seq`, or undefined when it is not held. */
  state(seq: number): ItemState | undefined {
    return this.held.get(seq);
  }

  /** Every held notification's state, by seq. */
  items(): ReadonlyMap<number, ItemState> {
    return this.held;
  }

  /** A welcome: its counts are those at its head. */
  welcome(frame: WelcomeFrame): void {
    this.welcomeHead = frame.head;
    this.highestSeq = Math.max(this.highestSeq, frame.seqHead ?? 0);
    if (frame.counts !== undefined) {
      this.current = frame.counts;
    }
  }

  /** History is gone (`recovered: false`): forget what is held. */
  reset(): void {
    this.held.clear();
  }

  /** Apply one entry, in stream order. Returns true when the counts changed. */
  apply(entry: StreamEntry): boolean {
    if (entry.kind === "notification") {
      const { seq, replaces } = entry.notification;
      this.held.set(seq, FRESH);
      this.highestSeq = Math.max(this.highestSeq, seq);
      if (replaces !== undefined && replaces !== null) {
        this.set(replaces, "retracted", true);
      }
      return this.take(entry.pos, entry.notification.counts);
    }
    this.change(entry.change);
    return this.take(entry.pos, entry.change.counts);
  }

  private change(change: StateChange): void {
    if (change.op === "trim") {
      for (const seq of change.seqs) {
        this.held.delete(seq);
      }
      return;
    }
    const [attribute, value] = SETS[change.op] as [keyof ItemState, boolean];
    for (const seq of change.seqs) {
      this.set(seq, attribute, value);
    }
    if (change.upto !== null) {
      for (const [seq, state] of this.held) {
        if (seq <= change.upto && !state.retracted) {
          this.set(seq, attribute, value);
        }
      }
    }
  }

  private set(seq: number, attribute: keyof ItemState, value: boolean): void {
    const state = this.held.get(seq);
    if (state !== undefined && state[attribute] !== value) {
      this.held.set(seq, { ...state, [attribute]: value });
    }
  }

  private take(pos: number, counts: Counts | undefined): boolean {
    if (pos <= this.welcomeHead || counts === undefined) {
      return false;
    }
    const changed = this.current?.unread !== counts.unread || this.current?.unarchived !== counts.unarchived;
    this.current = counts;
    return changed;
  }
}
