// dist/ is committed (the demo page loads it without a build step): it must be exactly what
// `npm run build` makes from src/.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");

test("dist/ is up to date with src/ (run npm run build)", async () => {
  const out = mkdtempSync(join(tmpdir(), "tidings-dist-"));
  try {
    const tsc = join(root, "node_modules", ".bin", "tsc");
    await promisify(execFile)(tsc, ["-p", join(root, "tsconfig.json"), "--outDir", out], { cwd: root });
    const built = readdirSync(out).sort();
    assert.deepEqual(readdirSync(join(root, "dist")).sort(), built);
    for (const name of built) {
      assert.equal(readFileSync(join(root, "dist", name), "utf8"), readFileSync(join(out, name), "utf8"), name);
    }
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});

test("the published types accept the ws package, the browser's WebSocket and typed handlers", async () => {
  const tsc = join(root, "node_modules", ".bin", "tsc");
  await promisify(execFile)(tsc, ["-p", join(root, "test", "types", "tsconfig.json")], { cwd: root });
});

test("the package has no runtime dependencies", () => {
  const manifest = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));
  assert.equal(manifest.dependencies, undefined);
  assert.equal(manifest.type, "module");
  assert.equal(manifest.exports["."].import, "./dist/index.js");
});
