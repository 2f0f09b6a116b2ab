// The end-to-end harness: the built page, generated media, the real `lipsync serve` (with its
// worker) on a free port, and Debian's Chromium with a fake camera and microphone fed from
// those media. Everything lives in one temp dir that is removed at the end; screenshots and
// logs go to e2e/artifacts/ and are kept.
import { spawn, spawnSync } from "node:child_process";
import {
  createWriteStream,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { setTimeout as sleep } from "node:timers/promises";
import { chromium } from "playwright-core";

const here = dirname(fileURLToPath(import.meta.url));
export const FRONTEND_DIR = resolve(here, "..", "..");
export const REPO_DIR = resolve(FRONTEND_DIR, "..");
export const ARTIFACTS_DIR = join(FRONTEND_DIR, "e2e", "artifacts");
const DIST_DIR = process.env.E2E_DIST_DIR ?? join(FRONTEND_DIR, "dist");
const PYTHON = process.env.LIPSYNC_PYTHON ?? join(REPO_DIR, ".venv", "bin", "python");
const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const SERVER_START_TIMEOUT_MS = 60_000;
const SERVER_STOP_TIMEOUT_MS = 20_000;

/** What every test reads; filled by `setUp()`. */
export const env = {
  baseURL: "",
  fixtures: /** @type {Record<string, string>} */ ({}),
  /** @type {import('playwright-core').Browser | null} */
  browser: null,
  /** Launches a second browser whose camera and microphone prompts are not auto-accepted. */
  launchBrowser,
};

/** What one test leaves for a later one (the recorded job, reopened on the phone). */
export const shared = { recordedJobId: "" };

let workDir = "";
/** @type {import('node:child_process').ChildProcess | null} */
let server = null;

function log(message) {
  process.stderr.write(`e2e: ${message}\n`);
}

function newestMtime(path) {
  const info = statSync(path);
  if (!info.isDirectory()) return info.mtimeMs;
  let newest = info.mtimeMs;
  for (const name of readdirSync(path)) newest = Math.max(newest, newestMtime(join(path, name)));
  return newest;
}

/** Builds the page when dist/ is missing or older than any of its sources
 *  (E2E_SKIP_BUILD=1: use dist/ as it is, e.g. right after `npm run build`). */
function ensureBuilt() {
  if (process.env.E2E_SKIP_BUILD === "1") {
    if (!existsSync(join(DIST_DIR, "index.html"))) throw new Error(`no built page in ${DIST_DIR}`);
    return;
  }
  const sources = ["src", "index.html", "vite.config.ts", "package.json", "public"]
    .map((name) => join(FRONTEND_DIR, name))
    .filter((path) => existsSync(path));
  const index = join(DIST_DIR, "index.html");
  const sourceTime = Math.max(...sources.map(newestMtime));
  if (existsSync(index) && newestMtime(DIST_DIR) >= sourceTime) return;
  log("building the page (dist/ is missing or older than src/)");
  // Its output goes to stderr, so that stdout stays the test report.
  const build = spawnSync("npm", ["run", "build"], { cwd: FRONTEND_DIR, stdio: ["ignore", 2, 2] });
  if (build.status !== 0) throw new Error(`npm run build failed with status ${build.status}`);
}

function makeFixtures() {
  const script = join(REPO_DIR, "tests", "e2e", "make_fixtures.py");
  const result = spawnSync(PYTHON, [script, join(workDir, "media")], { encoding: "utf8" });
  if (result.status !== 0) {
    throw new Error(`fixture generation failed (${result.status}): ${result.stderr.slice(-2000)}`);
  }
  return JSON.parse(result.stdout.trim().split('\n').at(-1));
}

/** Starts `lipsync serve` on a free port in its own process group; resolves to its URL. */
async function startServer() {
  const serverLog = createWriteStream(join(ARTIFACTS_DIR, "server.log"));
  const child = spawn(
    join(REPO_DIR, ".venv", "bin", "lipsync"),
    ["serve", "--host", "127.0.0.1", "--port", "0", "--workers", "1"],
    {
      cwd: REPO_DIR,
      // Its own process group, so that stopping it also reaches the worker processes.
      detached: true,
      stdio: ["ignore", "pipe", "pipe"],
      env: {
        ...process.env,
        LIPSYNC_DATA: join(workDir, "data"),
        LIPSYNC_HOME: join(workDir, "home"),
        LIPSYNC_FRONTEND_DIR: DIST_DIR,
        LIPSYNC_API_TOKEN: "",
        PYTHONUNBUFFERED: "1",
      },
    },
  );
  server = child;
  child.stderr.pipe(serverLog);
  const url = await new Promise((resolveUrl, reject) => {
    let seen = "";
    const timer = setTimeout(() => reject(new Error(`server did not start: ${seen}`)), SERVER_START_TIMEOUT_MS);
    child.stdout.on("data", (chunk) => {
      serverLog.write(chunk);
      seen += chunk.toString();
      const match = seen.match(/running at (http:\/\/127\.0\.0\.1:\d+)\//);
      if (match) {
        clearTimeout(timer);
        resolveUrl(match[1]);
      }
    });
    child.on("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code} before it was ready: ${seen}`));
    });
  });
  // Jobs would queue without a worker, but waiting for one keeps the timings honest.
  const deadline = Date.now() + SERVER_START_TIMEOUT_MS;
  for (;;) {
    try {
      const health = await (await fetch(`${url}/api/health`)).json();
      if (health.status === "ok" && health.workers?.length > 0) return url;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error("server has no live worker after 60 s");
    await sleep(250);
  }
}

function groupAlive(pid) {
  try {
    process.kill(-pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** SIGTERM to the server's group (workers hand their jobs back), SIGKILL if it lingers. */
async function stopServer() {
  const child = server;
  server = null;
  if (!child?.pid || !groupAlive(child.pid)) return;
  process.kill(-child.pid, "SIGTERM");
  const deadline = Date.now() + SERVER_STOP_TIMEOUT_MS;
  while (groupAlive(child.pid) && Date.now() < deadline) await sleep(100);
  if (groupAlive(child.pid)) {
    log("server did not stop on SIGTERM; killing it");
    process.kill(-child.pid, "SIGKILL");
  }
}

/** Last resort when Node exits without running `tearDown` (an uncaught error, Ctrl+C). */
function killServerNow() {
  if (server?.pid && groupAlive(server.pid)) process.kill(-server.pid, "SIGKILL");
  if (workDir) rmSync(workDir, { recursive: true, force: true });
}

/** Chromium with fake media devices; `autoAccept: false` leaves permission prompts alone. */
export async function launchBrowser({ autoAccept = true } = {}) {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`no Chromium at ${CHROMIUM}: apt-get install chromium, or set CHROMIUM_PATH`);
  }
  const args = [
    "--use-fake-device-for-media-stream",
    `--use-file-for-fake-video-capture=${env.fixtures.camera}`,
    `--use-file-for-fake-audio-capture=${env.fixtures.microphone}%noloop`,
    // Playback is started from the tests, without a user gesture.
    "--autoplay-policy=no-user-gesture-required",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    // No --user-data-dir: Playwright refuses it in launch() and gives every launch a fresh
    // temporary profile of its own, removed on close.
  ];
  if (autoAccept) args.push("--use-fake-ui-for-media-stream");
  return chromium.launch({ executablePath: CHROMIUM, args });
}

export async function setUp() {
  const started = Date.now();
  mkdirSync(ARTIFACTS_DIR, { recursive: true });
  for (const name of readdirSync(ARTIFACTS_DIR)) rmSync(join(ARTIFACTS_DIR, name), { recursive: true, force: true });
  workDir = mkdtempSync(join(tmpdir(), "lipsync-e2e-"));
  process.once("exit", killServerNow);
  for (const signal of ["SIGINT", "SIGTERM"]) {
    process.once(signal, () => {
      killServerNow();
      process.exit(130);
    });
  }
  ensureBuilt();
  env.fixtures = makeFixtures();
  env.baseURL = await startServer();
  env.browser = await launchBrowser();
  log(`ready in ${((Date.now() - started) / 1000).toFixed(1)} s: ${env.baseURL}, work dir ${workDir}`);
}

export async function tearDown() {
  try {
    await env.browser?.close();
  } finally {
    env.browser = null;
    await stopServer();
    if (workDir) rmSync(workDir, { recursive: true, force: true });
    workDir = "";
  }
}

/** A context with camera and microphone granted, console output logged to artifacts. */
export async function newPage(name, options = {}) {
  const browser = options.browser ?? env.browser;
  const context = await browser.newContext({
    baseURL: env.baseURL,
    acceptDownloads: true,
    viewport: { width: 1280, height: 900 },
    ...options.context,
  });
  if (options.grant !== false) {
    await context.grantPermissions(["camera", "microphone"], { origin: env.baseURL });
  }
  const page = await context.newPage();
  const consoleLog = createWriteStream(join(ARTIFACTS_DIR, `${name}-console.log`));
  page.on("console", (message) => consoleLog.write(`[${message.type()}] ${message.text()}\n`));
  page.on("pageerror", (error) => consoleLog.write(`[pageerror] ${error.stack ?? error}\n`));
  page.on("requestfailed", (request) =>
    consoleLog.write(`[requestfailed] ${request.method()} ${request.url()} ${request.failure()?.errorText}\n`),
  );
  context.on("close", () => consoleLog.end());
  return { context, page };
}

/** Numbered screenshots (full page unless told): artifacts/<test>-NN-<step>.png. */
export function screenshotter(page, testName) {
  let step = 0;
  return async (label, { fullPage = true } = {}) => {
    step += 1;
    const path = join(ARTIFACTS_DIR, `${testName}-${String(step).padStart(2, "0")}-${label}.png`);
    await page.screenshot({ path, fullPage });
    return path;
  };
}

/** Runs `body(page, shot)` in a fresh context; on failure saves a screenshot first. */
export async function withPage(name, body, options = {}) {
  const { context, page } = await newPage(name, options);
  const shot = screenshotter(page, name);
  try {
    await body(page, shot, context);
  } catch (error) {
    writeFileSync(join(ARTIFACTS_DIR, `${name}-FAILED.txt`), `${error.stack ?? error}\n`);
    await page
      .screenshot({ path: join(ARTIFACTS_DIR, `${name}-FAILED.png`), fullPage: true })
      .catch(() => {});
    throw error;
  } finally {
    await context.close();
  }
}
