/**
 * Filling a gap in the live stream from `GET /notifications?since=&limit=`.
 *
 * No I/O of its own: the page reader and the delivery step are passed in, so the logic is
 * tested with plain functions and used by the client with REST and its handlers.
 */
/**
 * Deliver every seq after `sequencer.position` up to `target`, in order, each once.
 *
 * Reads pages of at most `pageLimit` items from the position; `deliver` must advance the
 * sequencer. Items at or below the position are skipped, so pages may overlap what was
 * delivered. Rejects with whatever `read` or `deliver` rejects with, leaving the position at
 * the last delivered seq.
 */
export async function fillGap(sequencer, target, read, deliver, pageLimit = 100) {
    for (;;) {
        const position = sequencer.position;
        if (position === null) {
            throw new Error("fillGap needs a known position");
        }
        if (position >= target) {
            return { kind: "filled" };
        }
        const page = await read(position, Math.max(1, Math.min(pageLimit, target - position)));
        if (!page.recovered) {
            return { kind: "trimmed", head: page.head };
        }
        const fresh = page.items.filter((item) => item.seq > position);
        if (fresh.length === 0) {
            return { kind: "gone" };
        }
        for (const item of fresh) {
            await deliver(item);
        }
    }
}
