// `npm run e2e`: the browser end-to-end tests (node:test) against the real server and worker.
// One setup for all tests: the built page, generated media, `lipsync serve` on a free port,
// and Debian's Chromium. Screenshots and logs go to e2e/artifacts/.
//
// Environment: E2E_SKIP_BUILD=1 uses dist/ as it is (else it is rebuilt when older than
// src/); E2E_DIST_DIR serves another built page; CHROMIUM_PATH (default /usr/bin/chromium);
// LIPSYNC_PYTHON (default ../.venv/bin/python). One test: node --test-name-pattern=phone e2e/run.mjs
import { after, before } from "node:test";
import { setUp, tearDown } from "./lib/harness.mjs";

before(setUp, { timeout: 240_000 });
after(tearDown, { timeout: 60_000 });

// In this order: the phone test reopens the job that the record test made.
await import("./tests/record.mjs");
await import("./tests/upload.mjs");
await import("./tests/errors.mjs");
await import("./tests/phone.mjs");
