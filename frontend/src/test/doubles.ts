/**
 * Test doubles of browser APIs that jsdom lacks or that tests must steer: XMLHttpRequest
 * (upload progress), EventSource, MediaStream tracks, MediaRecorder and getUserMedia.
 */
import { vi } from "vitest";

/** XMLHttpRequest double: records what was sent; the test plays the server's part. */
export class FakeXMLHttpRequest {
  static instances: FakeXMLHttpRequest[] = [];
  method = "";
  url = "";
  headers: Record<string, string> = {};
  body: unknown = null;
  status = 0;
  statusText = "";
  responseText = "";
  aborted = false;
  upload: { onprogress: ((event: ProgressEvent) => void) | null } = { onprogress: null };
  onload: (() => void) | null = null;
  onerror: (() => void) | null = null;
  onabort: (() => void) | null = null;
  ontimeout: (() => void) | null = null;

  constructor() {
    FakeXMLHttpRequest.instances.push(this);
  }

  static latest(): FakeXMLHttpRequest {
    const last = FakeXMLHttpRequest.instances.at(-1);
    if (last === undefined) throw new Error("no XMLHttpRequest was made");
    return last;
  }

  open(method: string, url: string): void {
    this.method = method;
    this.url = url;
  }

  setRequestHeader(name: string, value: string): void {
    this.headers[name] = value;
  }

  send(body: unknown): void {
    this.body = body;
  }

  abort(): void {
    this.aborted = true;
    this.onabort?.();
  }

  progress(loaded: number, total: number | null): void {
    const event = { loaded, total: total ?? 0, lengthComputable: total !== null } as ProgressEvent;
    this.upload.onprogress?.(event);
  }

  respond(status: number, body: unknown, statusText = ""): void {
    this.status = status;
    this.statusText = statusText;
    this.responseText = typeof body === "string" ? body : JSON.stringify(body);
    this.onload?.();
  }

  failNetwork(): void {
    this.onerror?.();
  }
}

type Listener = (event: MessageEvent<string>) => void;

/** EventSource double: the test emits named events and errors. */
export class FakeEventSource {
  static instances: FakeEventSource[] = [];
  readyState = 0;
  closed = false;
  onerror: ((event: Event) => void) | null = null;
  private listeners = new Map<string, Listener[]>();

  constructor(readonly url: string) {
    FakeEventSource.instances.push(this);
  }

  addEventListener(type: string, listener: Listener): void {
    this.listeners.set(type, [...(this.listeners.get(type) ?? []), listener]);
  }

  close(): void {
    this.closed = true;
    this.readyState = 2;
  }

  emit(type: string, data: unknown): void {
    this.readyState = 1;
    const event = { data: JSON.stringify(data) } as MessageEvent<string>;
    this.listeners.get(type)?.forEach((listener) => listener(event));
  }

  /** An error; `closed` true is the browser giving up (e.g. an HTTP 503 answer). */
  fail(closed: boolean): void {
    this.readyState = closed ? 2 : 0;
    this.onerror?.(new Event("error"));
  }
}

export class FakeTrack {
  readyState: "live" | "ended" = "live";
  stop = vi.fn(() => {
    this.readyState = "ended";
  });
  addEventListener = vi.fn();
  constructor(readonly kind: "audio" | "video") {}
}

export class FakeMediaStream {
  readonly tracks: FakeTrack[];
  constructor(kinds: ("audio" | "video")[]) {
    this.tracks = kinds.map((kind) => new FakeTrack(kind));
  }
  getTracks(): FakeTrack[] {
    return this.tracks;
  }
  getAudioTracks(): FakeTrack[] {
    return this.tracks.filter((track) => track.kind === "audio");
  }
  getVideoTracks(): FakeTrack[] {
    return this.tracks.filter((track) => track.kind === "video");
  }
}

/** MediaRecorder double: `supportedTypes` decides isTypeSupported; stop() delivers one chunk. */
export class FakeMediaRecorder {
  static supportedTypes = new Set<string>();
  static instances: FakeMediaRecorder[] = [];
  state: "inactive" | "recording" = "inactive";
  readonly mimeType: string;
  ondataavailable: ((event: { data: Blob }) => void) | null = null;
  onstop: (() => void) | null = null;
  onerror: (() => void) | null = null;

  constructor(
    readonly stream: FakeMediaStream,
    options?: { mimeType?: string },
  ) {
    this.mimeType = options?.mimeType ?? "";
    FakeMediaRecorder.instances.push(this);
  }

  static isTypeSupported(type: string): boolean {
    return FakeMediaRecorder.supportedTypes.has(type);
  }

  start(): void {
    this.state = "recording";
  }

  stop(): void {
    this.state = "inactive";
    this.ondataavailable?.({ data: new Blob(["recorded bytes"], { type: this.mimeType }) });
    this.onstop?.();
  }
}

export interface MediaDoubles {
  getUserMedia: ReturnType<typeof vi.fn>;
  streams: FakeMediaStream[];
}

/**
 * Installs MediaRecorder and navigator.mediaDevices.getUserMedia doubles (the real ones do
 * not exist in jsdom). `denied` makes getUserMedia fail as a refused permission does.
 */
export function installMediaDoubles(options: { supportedTypes: string[]; denied?: boolean }): MediaDoubles {
  FakeMediaRecorder.supportedTypes = new Set(options.supportedTypes);
  FakeMediaRecorder.instances = [];
  const streams: FakeMediaStream[] = [];
  const getUserMedia = vi.fn(async (constraints: MediaStreamConstraints) => {
    if (options.denied) throw new DOMException("Permission denied", "NotAllowedError");
    const kinds: ("audio" | "video")[] = [];
    if (constraints.audio) kinds.push("audio");
    if (constraints.video) kinds.push("video");
    const stream = new FakeMediaStream(kinds);
    streams.push(stream);
    return stream;
  });
  vi.stubGlobal("MediaRecorder", FakeMediaRecorder);
  vi.stubGlobal("isSecureContext", true);
  Object.defineProperty(navigator, "mediaDevices", {
    configurable: true,
    value: { getUserMedia },
  });
  return { getUserMedia, streams };
}

export function removeMediaDoubles(): void {
  vi.unstubAllGlobals();
  Reflect.deleteProperty(navigator, "mediaDevices");
}

/** A fetch double answering by URL path; unknown paths get the API's 404 body. */
export function stubFetch(routes: Record<string, unknown | (() => Response)>): ReturnType<typeof vi.fn> {
  const fetchDouble = vi.fn(async (input: RequestInfo | URL) => {
    const url = typeof input === "string" ? input : input instanceof URL ? input.href : input.url;
    const path = url.split("?")[0] ?? url;
    const answer = routes[url] ?? routes[path];
    if (typeof answer === "function") return (answer as () => Response)();
    if (answer === undefined) {
      const body = { error: { code: "not_found", message: `no route ${path}`, status: 404 } };
      return new Response(JSON.stringify(body), { status: 404 });
    }
    return new Response(JSON.stringify(answer), { status: 200 });
  });
  vi.stubGlobal("fetch", fetchDouble);
  return fetchDouble;
}
