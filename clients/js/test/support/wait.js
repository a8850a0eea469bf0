// Waiting on conditions with deadlines; nothing sleeps to let a race settle.

/** Resolve once `condition()` is truthy; reject with `what` after `timeoutMs`. */
export async function until(condition, what, timeoutMs = 10_000, intervalMs = 10) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await condition()) {
      return;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${what}`);
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/** Let pending promise callbacks run (for tests on a manual clock). */
export async function settle(rounds = 20) {
  for (let i = 0; i < rounds; i += 1) {
    await new Promise((resolve) => setImmediate(resolve));
  }
}
