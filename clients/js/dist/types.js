/**
 * Public data types of the client and the small platform interfaces it needs.
 *
 * Wire frames (protocol v1) use snake_case; what the client hands to the application uses
 * camelCase. The platform interfaces are the subset of the browser's `WebSocket` and `fetch`
 * that the client uses, so the `ws` package and test doubles fit them too.
 */
/** The default clock: `Date.now` and the global timers. */
export const systemClock = {
    now: () => Date.now(),
    setTimeout: (callback, ms) => globalThis.setTimeout(callback, ms),
    clearTimeout: (handle) => globalThis.clearTimeout(handle),
};
