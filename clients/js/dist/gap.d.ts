/**
 * Filling a gap in the live stream from `GET /notifications?since=&limit=`.
 *
 * No I/O of its own: the page reader and the delivery step are passed in, so the logic is
 * tested with plain functions and used by the client with REST and its handlers.
 */
import type { Notification } from "./types.js";
import type { Sequencer } from "./sequencer.js";
/** One REST page, as `GET /notifications` returns it (items in seq order). */
export interface Page {
    readonly items: readonly Notification[];
    readonly head: number;
    readonly hasMore: boolean;
    readonly recovered: boolean;
}
export type PageReader = (since: number, limit: number) => Promise<Page>;
/**
 * `filled`: every seq up to the target was delivered; `gone`: the server holds nothing more
 * before the target (the missing seqs no longer exist); `trimmed`: the server cannot continue
 * from the position (`recovered: false`), the caller resyncs from `head`.
 */
export type FillOutcome = {
    readonly kind: "filled";
} | {
    readonly kind: "gone";
} | {
    readonly kind: "trimmed";
    readonly head: number;
};
/**
 * Deliver every seq after `sequencer.position` up to `target`, in order, each once.
 *
 * Reads pages of at most `pageLimit` items from the position; `deliver` must advance the
 * sequencer. Items at or below the position are skipped, so pages may overlap what was
 * delivered. Rejects with whatever `read` or `deliver` rejects with, leaving the position at
 * the last delivered seq.
 */
export declare function fillGap(sequencer: Sequencer, target: number, read: PageReader, deliver: (item: Notification) => Promise<void>, pageLimit?: number): Promise<FillOutcome>;
