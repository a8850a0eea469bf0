// A real tidings server in a subprocess (`tidings run`, or launch.py with a revocation hook),
// on loopback, with its own data dir; emits go through emit.py into the same store.
import { execFile, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

import { SECRET } from "./tokens.js";
import { until } from "./wait.js";

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, "../../../..");
const venv = process.env.TIDINGS_VENV ?? join(repo, ".venv");
export const PYTHON = join(venv, "bin", "python");
const TIDINGS = join(venv, "bin", "tidings");
const run = promisify(execFile);

export async function freePort() {
  return new Promise((resolvePort, reject) => {
    const probe = createServer();
    probe.once("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const { port } = probe.address();
      probe.close(() => resolvePort(port));
    });
  });
}

export class TidingsServer {
  /**
   * `revokedPrefix`: serve through launch.py with a revocation check refusing users whose
   * id starts with it. `env`: extra TIDINGS_* settings.
   */
  constructor({ revokedPrefix = null, env = {} } = {}) {
    this.dataDir = mkdtempSync(join(tmpdir(), "tidings-js-"));
    this.revokedPrefix = revokedPrefix;
    this.extraEnv = env;
    this.port = null;
    this.process = null;
    this.output = "";
  }

  get url() {
    return `http://127.0.0.1:${this.port}`;
  }

  get sqlitePath() {
    return join(this.dataDir, "tidings.sqlite3");
  }

  /** Start (again, on the same port and data dir) and wait until /readyz answers 200. */
  async start() {
    this.port ??= await freePort();
    const env = {
      ...process.env,
      TIDINGS_DATA_DIR: this.dataDir,
      TIDINGS_PORT: String(this.port),
      TIDINGS_HOST: "127.0.0.1",
      // A private Redis when one is given (pub/sub channels are server-wide).
      TIDINGS_REDIS_URL: process.env.TIDINGS_JS_TEST_REDIS_URL ?? "redis://127.0.0.1:6379/12",
      TIDINGS_JWT_SECRET: SECRET,
      TIDINGS_SWEEP_INTERVAL_SECONDS: "0.05",
      TIDINGS_LEASE_SECONDS: "1",
      ...this.extraEnv,
    };
    const [command, args] = this.revokedPrefix
      ? [PYTHON, [join(here, "launch.py"), this.revokedPrefix]]
      : [TIDINGS, ["run"]];
    const child = spawn(command, args, { env, stdio: ["ignore", "pipe", "pipe"] });
    child.stdout.on("data", (chunk) => (this.output += chunk));
    child.stderr.on("data", (chunk) => (this.output += chunk));
    this.process = child;
    this.exited = new Promise((resolveExit) => child.once("exit", resolveExit));
    await until(async () => {
      if (child.exitCode !== null) {
        throw new Error(`the server exited (${child.exitCode}):\n${this.output}`);
      }
      return this.ready();
    }, "the server to be ready", 30_000, 50);
  }

  async ready() {
    try {
      const response = await fetch(`${this.url}/readyz`);
      return response.status === 200;
    } catch {
      return false;
    }
  }

  /** SIGKILL: the process dies mid-whatever, as in a crash. */
  async kill() {
    await this.signal("SIGKILL");
  }

  /** SIGTERM (the server closes its sockets with 1001), SIGKILL after 10 s. */
  async stop() {
    const timer = setTimeout(() => this.process?.kill("SIGKILL"), 10_000);
    await this.signal("SIGTERM");
    clearTimeout(timer);
  }

  async signal(name) {
    if (this.process === null) {
      return;
    }
    this.process.kill(name);
    await this.exited;
    this.process = null;
  }

  /** Stop and delete the data dir. */
  async dispose() {
    if (this.process !== null) {
      await this.kill();
    }
    rmSync(this.dataDir, { recursive: true, force: true });
  }

  /** Commit `count` notifications for `user` to the outbox (data `{i: start..}`). */
  async emit(user, count = 1, { start = 0, origin = null, event = "test.note" } = {}) {
    const args = [join(here, "emit.py"), this.sqlitePath, user, String(count), String(start), event];
    if (origin !== null) {
      args.push(origin);
    }
    await run(PYTHON, args, { timeout: 30_000 });
  }

  /** `GET /notifications/cursor` for `token`. */
  async cursor(token, device = "default") {
    const response = await fetch(`${this.url}/notifications/cursor?device=${device}`, {
      headers: { Authorization: `Bearer ${token}` },
    });
    return response.json();
  }
}
