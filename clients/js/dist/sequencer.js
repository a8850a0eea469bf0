/**
 * Dedup and gap detection over one user's seq stream. Pure.
 *
 * The position is the highest seq processed (null before the first welcome). A seq at or
 * below it is a duplicate and is never delivered again; the next seq is `position + 1`;
 * anything higher is a gap that must be filled first so the application sees a contiguous
 * stream.
 */
export class Sequencer {
    current;
    constructor(position = null) {
        this.current = position;
    }
    /** The highest seq processed, or null when unknown. */
    get position() {
        return this.current;
    }
    /** Classify `seq`. Throws when the position is unknown (no welcome yet). */
    verdict(seq) {
        if (this.current === null) {
            throw new Error("the stream position is unknown before the welcome");
        }
        if (seq <= this.current) {
            return "duplicate";
        }
        return seq === this.current + 1 ? "next" : "gap";
    }
    /** Record `seq` as processed; never moves backwards. */
    advance(seq) {
        if (this.current === null || seq > this.current) {
            this.current = seq;
        }
    }
    /** Set the position, also backwards (the server's history restarted) or to unknown. */
    reset(position) {
        this.current = position;
    }
}
