/** The JSON shapes of the Lipsync web API (docs/api.md, /api/openapi.json). Times are ISO 8601
 * UTC strings, `_s` fields seconds, `_bytes` fields bytes; absent values are null. */

export type JobStatus = "queued" | "running" | "succeeded" | "failed" | "cancelled";

export const FINISHED_STATUSES: readonly JobStatus[] = ["succeeded", "failed", "cancelled"];

export function isFinished(status: JobStatus): boolean {
  return FINISHED_STATUSES.includes(status);
}

export interface StageProgress {
  done: number;
  total: number | null;
  unit: string;
}

export interface JobResult {
  url: string;
  download_url: string;
  duration_s: number | null;
  fps: number | null;
  frames: number | null;
  frames_with_face: number | null;
  size_bytes: number | null;
  engine: string | null;
}

export interface JobLinks {
  self: string;
  events: string;
  result: string;
  download: string;
}

export interface MediaStreamInfo {
  codec?: string;
  width?: number;
  height?: number;
  is_still?: boolean;
  duration_s?: number | null;
}

export interface MediaInfo {
  format: string;
  size_bytes: number;
  duration_s: number | null;
  video: MediaStreamInfo | null;
  audio: MediaStreamInfo | null;
}

export interface Job {
  id: string;
  status: JobStatus;
  stage: string;
  /** Overall progress, 0 … 1. */
  progress: number;
  stage_progress: StageProgress;
  /** The server's estimate of the seconds left; null when unknown. */
  eta_s: number | null;
  error: { code: string; message: string } | null;
  attempts: number;
  max_attempts: number;
  retry_reason: string | null;
  cancel_requested: boolean;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
  updated_at: string;
  options: Record<string, unknown>;
  input: { video?: MediaInfo | null; audio?: MediaInfo | null; audio_source?: string } | null;
  result: JobResult | null;
  links: JobLinks;
}

export interface CreatedJob {
  id: string;
  status_url: string;
  events_url: string;
  job: Job;
}

export type OptionKind = "str" | "int" | "float" | "bool" | "choice" | "int_tuple";

/** One field of /api/options, generated from the library's SyncOptions. */
export interface OptionField {
  name: string;
  kind: OptionKind | string;
  optional: boolean;
  default: unknown;
  help: string;
  choices: string[];
  /** Number of items of a tuple field (0 otherwise). */
  length: number;
}

export interface OptionsResponse {
  fields: OptionField[];
}

export interface EngineInfo {
  name: string;
  description: string;
  installed: boolean;
  for_tests: boolean;
  models: string[];
}

export interface EnhancerInfo {
  name: string;
  description: string;
  installed: boolean;
  license?: string | null;
}

export interface EnginesResponse {
  engines: EngineInfo[];
  enhancers: EnhancerInfo[];
}

export interface ApiErrorBody {
  error: { code: string; message: string; status: number };
}
