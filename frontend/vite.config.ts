/// <reference types="vitest/config" />
import type { IncomingMessage } from "node:http";
import { availableParallelism } from "node:os";
import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";

// The Flask app (`lipsync serve`). Override with LIPSYNC_API_URL to proxy to another port.
const backend = process.env.LIPSYNC_API_URL ?? "http://127.0.0.1:8000";

/**
 * The backend refuses a POST or DELETE whose Origin is not its own (or listed in
 * LIPSYNC_ALLOWED_ORIGINS). With changeOrigin false the proxy forwards the browser's Host
 * header (e.g. `localhost:5173`), so the dev page's own Origin already matches what the
 * backend sees as its host. We still drop that Origin before forwarding: the request is then
 * judged like a same-origin one even if the proxy is later switched to changeOrigin, and no
 * LIPSYNC_ALLOWED_ORIGINS entry is needed for development. An Origin naming any other site is
 * forwarded untouched, so the backend keeps refusing cross-site requests made through the
 * dev server.
 */
function isDevServerOwnOrigin(req: IncomingMessage): boolean {
  const origin = req.headers.origin;
  if (origin === undefined || req.headers.host === undefined) return false;
  try {
    return new URL(origin).host === req.headers.host;
  } catch {
    return false;
  }
}

export default defineConfig({
  plugins: [react()],
  build: {
    outDir: "dist",
    emptyOutDir: true,
    sourcemap: true,
  },
  server: {
    proxy: {
      "/api": {
        target: backend,
        changeOrigin: false,
        configure(proxy) {
          proxy.on("proxyReq", (proxyReq, req) => {
            if (isDevServerOwnOrigin(req)) proxyReq.removeHeader("origin");
          });
        },
      },
    },
  },
  test: {
    environment: "jsdom",
    setupFiles: ["./src/test/setup.ts"],
    include: ["src/**/*.test.{ts,tsx}"],
    restoreMocks: true,
    unstubGlobals: true,
    testTimeout: 10_000,
    // Vitest's default leaves one core idle: on a 2-core machine that runs the files one by one.
    maxWorkers: Math.max(2, availableParallelism()),
  },
});
