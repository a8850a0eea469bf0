/**
 * Where the last processed position is kept between runs.
 *
 * The client loads the cursor once at `start()` and connects with `since=<seq>`; it saves
 * the cursor whenever it acknowledges (batched) and at `stop()`. A cursor of another user
 * (a different `sub` logged in) is discarded at the welcome.
 */
/** Keeps the cursor in memory: resumes across reconnects, not across page loads. */
export class MemoryCursorStore {
    cursor = null;
    load() {
        return this.cursor;
    }
    save(cursor) {
        this.cursor = cursor;
    }
    clear() {
        this.cursor = null;
    }
}
/** Keeps the cursor in `localStorage` (or any Web Storage) under `key`. */
export class LocalStorageCursorStore {
    key;
    storage;
    /** Throws when no storage is given and `globalThis.localStorage` does not exist. */
    constructor(key = "tidings:cursor", storage) {
        const found = storage ?? globalThis.localStorage;
        if (found === undefined) {
            throw new Error("no localStorage here: pass a storage or use MemoryCursorStore");
        }
        this.key = key;
        this.storage = found;
    }
    load() {
        const raw = this.storage.getItem(this.key);
        if (raw === null) {
            return null;
        }
        try {
            const value = JSON.parse(raw);
            if (isCursor(value)) {
                const { userId, seq } = value;
                return value.protocol === 2 ? { userId, seq, protocol: 2 } : { userId, seq };
            }
        }
        catch {
            // Unreadable: start as if nothing were stored.
        }
        return null;
    }
    save(cursor) {
        const { userId, seq, protocol = 1 } = cursor;
        this.storage.setItem(this.key, JSON.stringify(protocol === 2 ? { userId, seq, protocol } : { userId, seq }));
    }
    clear() {
        this.storage.removeItem(this.key);
    }
}
function isCursor(value) {
    if (typeof value !== "object" || value === null) {
        return false;
    }
    const { userId, seq } = value;
    return typeof userId === "string" && Number.isSafeInteger(seq) && seq >= 0;
}
