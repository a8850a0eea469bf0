/**
 * Filling a gap in the live stream from `GET /notifications?since=&limit=` (protocol v2:
 * `GET /stream`, by position).
 *
 * No I/O of its own: the page reader and the delivery step are passed in, so the logic is
 * tested with plain functions and used by the client with REST and its handlers.
 */

import type { Notification } from "./types.js";
import type { Sequencer } from "./sequencer.js";

/** One REST page, as `GET /notifications` returns it (items in seq, or stream, order). */
export interface Page<E = Notification> {
  readonly items: readonly E[];
  readonly head: number;
  readonly hasMore: boolean;
  readonly recovered: boolean;
}

export type PageReader<E = Notification> = (since: number, limit: number) => Promise<Page<E>>;

/** Where an item is in the stream: a notification's seq unless told otherwise. */
const bySeq = <E>(item: E): number => (item as unknown as Notification).seq;

/**
 * `filled`: every seq up to the target was delivered; `gone`: the server holds nothing more
 * before the target (the missing seqs no longer exist); `trimmed`: the server cannot continue
 * from the position (`recovered: false`), the caller resyncs from `head`.
 */
export type FillOutcome =
  | { readonly kind: "filled" }
  | { readonly kind: "gone" }
  | { readonly kind: "trimmed"; readonly head: number };

/**
 * Deliver every seq after `sequencer.position` up to `target`, in order, each once.
 *
 * Reads pages of at most `pageLimit` items from the position; `deliver` must advance the
 * sequencer. Items at or below the position are skipped, so pages may overlap what was
 * delivered. Rejects with whatever `read` or `deliver` rejects with, leaving the position at
 * the last delivered seq. `position` says where an item is (default: its `seq`).
 */
export async function fillGap<E = Notification>(
  sequencer: Sequencer,
  target: number,
  read: PageReader<E>,
  deliver: (item: E) => Promise<void>,
  pageLimit = 100,
  position: (item: E) => number = bySeq,
): Promise<FillOutcome> {
  for (;;) {
    const at = sequencer.position;
    if (at === null) {
      throw new Error("fillGap needs a known position");
    }
    if (at >= target) {
      return { kind: "filled" };
    }
    const page = await read(at, Math.max(1, Math.min(pageLimit, target - at)));
    if (!page.recovered) {
      return { kind: "trimmed", head: page.head };
    }
    const fresh = page.items.filter((item) => position(item) > at);
    if (fresh.length === 0) {
      return { kind: "gone" };
    }
    for (const item of fresh) {
      await deliver(item);
    }
  }
}
