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
export declare class MemoryCursorStore implements CursorStore {
    private cursor;
    load(): Cursor | null;
    save(cursor: Cursor): void;
    clear(): void;
}
/** The part of the Web Storage API the store uses. */
export interface StorageLike {
    getItem(key: string): string | null;
    setItem(key: string, value: string): void;
    removeItem(key: string): void;
}
/** Keeps the cursor in `localStorage` (or any Web Storage) under `key`. */
export declare class LocalStorageCursorStore implements CursorStore {
    private readonly key;
    private readonly storage;
    /** Throws when no storage is given and `globalThis.localStorage` does not exist. */
    constructor(key?: string, storage?: StorageLike);
    load(): Cursor | null;
    save(cursor: Cursor): void;
    clear(): void;
}
