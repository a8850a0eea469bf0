/**
 * Where the last processed position is kept between runs.
 *
 * The client loads the cursor once at `start()` and connects with `since=<seq>`; it saves
 * the cursor whenever it acknowledges (batched) and at `stop()`. A cursor of another user
 * (a different `sub` logged in) is discarded at the welcome.
 */

import type { Cursor } from "./types.js";

export interface CursorStore {
  load(): Cursor | null | Promise<Cursor | null>;
  save(cursor: Cursor): void | Promise<void>;
  clear(): void | Promise<void>;
}

/** Keeps the cursor in memory: resumes across reconnects, not across page loads. */
export class MemoryCursorStore implements CursorStore {
  private cursor: Cursor | null = null;

  load(): Cursor | null {
    return this.cursor;
  }

  save(cursor: Cursor): void {
    this.cursor = cursor;
  }

  clear(): void {
    this.cursor = null;
  }
}

/** The part of the Web Storage API the store uses. */
export interface StorageLike {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

/** Keeps the cursor in `localStorage` (or any Web Storage) under `key`. */
export class LocalStorageCursorStore implements CursorStore {
  private readonly key: string;
  private readonly storage: StorageLike;

  /** Throws when no storage is given and `globalThis.localStorage` does not exist. */
  constructor(key = "tidings:cursor", storage?: StorageLike) {
    const found = storage ?? (globalThis as { localStorage?: StorageLike }).localStorage;
    if (found === undefined) {
      throw new Error("no localStorage here: pass a storage or use MemoryCursorStore");
    }
    this.key = key;
    this.storage = found;
  }

  load(): Cursor | null {
    const raw = this.storage.getItem(this.key);
    if (raw === null) {
      return null;
    }
    try {
      const value: unknown = JSON.parse(raw);
      if (isCursor(value)) {
        const { userId, seq } = value;
        return (value as { protocol?: unknown }).protocol === 2 ? { userId, seq, protocol: 2 } : { userId, seq };
      }
    } catch {
      // Unreadable: start as if nothing were stored.
    }
    return null;
  }

  save(cursor: Cursor): void {
    const { userId, seq, protocol = 1 } = cursor;
    this.storage.setItem(this.key, JSON.stringify(protocol === 2 ? { userId, seq, protocol } : { userId, seq }));
  }

  clear(): void {
    this.storage.removeItem(this.key);
  }
}

function isCursor(value: unknown): value is Cursor {
  if (typeof value !== "object" || value === null) {
    return false;
  }
  const { userId, seq } = value as { userId?: unknown; seq?: unknown };
  return typeof userId === "string" && Number.isSafeInteger(seq) && (seq as number) >= 0;
}
