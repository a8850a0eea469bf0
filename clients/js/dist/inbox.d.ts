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
import type { Counts, ItemState, StreamEntry } from "./types.js";
export declare class InboxState {
    private readonly held;
    private current;
    private welcomeHead;
    private highestSeq;
    /** The counts, or null before the first welcome. */
    get counts(): Counts | null;
    /** The highest seq known (held, or the server's head at the welcome). */
    get seqHead(): number;
    /** The state of notification `seq`, or undefined when it is not held. */
    state(seq: number): ItemState | undefined;
    /** Every held notification's state, by seq. */
    items(): ReadonlyMap<number, ItemState>;
    /** A welcome: its counts are those at its head. */
    welcome(frame: WelcomeFrame): void;
    /** History is gone (`recovered: false`): forget what is held. */
    reset(): void;
    /** Apply one entry, in stream order. Returns true when the counts changed. */
    apply(entry: StreamEntry): boolean;
    private change;
    private set;
    private take;
}
