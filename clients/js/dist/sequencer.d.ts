/**
 * Dedup and gap detection over one user's seq stream. Pure.
 *
 * The position is the highest seq processed (null before the first welcome). A seq at or
 * below it is a duplicate and is never delivered again; the next seq is `position + 1`;
 * anything higher is a gap that must be filled first so the application sees a contiguous
 * stream.
 */
export type Verdict = "duplicate" | "next" | "gap";
export declare class Sequencer {
    private current;
    constructor(position?: number | null);
    /** The highest seq processed, or null when unknown. */
    get position(): number | null;
    /** Classify `seq`. Throws when the position is unknown (no welcome yet). */
    verdict(seq: number): Verdict;
    /** Record `seq` as processed; never moves backwards. */
    advance(seq: number): void;
    /** Set the position, also backwards (the server's history restarted) or to unknown. */
    reset(position: number | null): void;
}
