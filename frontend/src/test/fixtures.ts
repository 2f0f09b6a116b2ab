import type { EnginesResponse, Job, OptionField } from "../api/types";

/** A trimmed copy of a real GET /api/options answer. */
export const optionFields: OptionField[] = [
  {
    name: "engine",
    kind: "str",
    optional: false,
    default: "auto",
    help: "Sync engine: auto (best installed), wav2lip, wav2lip_gan, or another registered engine.",
    choices: [],
    length: 0,
  },
  {
    name: "face",
    kind: "str",
    optional: false,
    default: "largest",
    help: "Which face to sync: largest, an index (0 = leftmost), or a point x,y on it.",
    choices: [],
    length: 0,
  },
  {
    name: "pads",
    kind: "int_tuple",
    optional: false,
    default: [0, 10, 0, 0],
    help: "Extra pixels around the detected face: top bottom left right.",
    choices: [],
    length: 4,
  },
  {
    name: "smooth",
    kind: "bool",
    optional: false,
    default: true,
    help: "Smooth the face box over neighbouring frames (no lag, no double mouth).",
    choices: [],
    length: 0,
  },
  {
    name: "loop",
    kind: "choice",
    optional: false,
    default: "pingpong",
    help: "When the audio is longer than the video: pingpong (back and forth) or forward.",
    choices: ["pingpong", "forward"],
    length: 0,
  },
  {
    name: "enhancer",
    kind: "str",
    optional: false,
    default: "none",
    help: "Enhance the regenerated region: none, realesrgan, gfpgan, codeformer.",
    choices: [],
    length: 0,
  },
  {
    name: "batch_size",
    kind: "int",
    optional: false,
    default: 16,
    help: "Frames per generator batch (larger is faster, uses more memory).",
    choices: [],
    length: 0,
  },
  {
    name: "still_duration_s",
    kind: "float",
    optional: true,
    default: null,
    help: "For a still image: output length in seconds (default: the speech's length).",
    choices: [],
    length: 0,
  },
];

export const engines: EnginesResponse = {
  engines: [
    {
      name: "wav2lip",
      description: "Wav2Lip, the reference network: the most accurate sync (user-supplied weights).",
      installed: false,
      for_tests: false,
      models: ["wav2lip"],
    },
    {
      name: "builtin",
      description: "The built-in engine: the person's own mouths chosen and warped to follow the speech.",
      installed: true,
      for_tests: false,
      models: [],
    },
    {
      name: "wav2lip_unittest",
      description: "A tiny random-weight Wav2Lip for tests.",
      installed: false,
      for_tests: true,
      models: ["wav2lip_unittest"],
    },
  ],
  enhancers: [
    { name: "gfpgan", description: "GFPGAN face restoration.", installed: true, license: "Apache-2.0" },
    { name: "codeformer", description: "CodeFormer face restoration.", installed: false, license: "S-Lab" },
  ],
};

export const JOB_ID = "4f1359706def0811812457a265809519";

/** A job as the API describes it; running halfway through "sync" unless overridden. */
export function makeJob(overrides: Partial<Job> = {}): Job {
  const id = overrides.id ?? JOB_ID;
  const base = `/api/jobs/${id}`;
  return {
    id,
    status: "running",
    stage: "sync",
    progress: 0.5,
    stage_progress: { done: 16, total: 71, unit: "frames" },
    eta_s: 12,
    error: null,
    attempts: 1,
    max_attempts: 3,
    retry_reason: null,
    cancel_requested: false,
    created_at: "2026-11-21T16:44:34.597Z",
    started_at: "2026-11-21T16:44:34.882Z",
    finished_at: null,
    updated_at: "2026-11-21T16:44:36.000Z",
    options: {},
    input: null,
    result: null,
    links: { self: base, events: `${base}/events`, result: `${base}/result`, download: `${base}/result?download=1` },
    ...overrides,
  };
}

export function succeededJob(id = JOB_ID): Job {
  const base = `/api/jobs/${id}`;
  return makeJob({
    id,
    status: "succeeded",
    stage: "done",
    progress: 1,
    eta_s: null,
    finished_at: "2026-11-21T16:44:38.700Z",
    result: {
      url: `${base}/result`,
      download_url: `${base}/result?download=1`,
      duration_s: 2.84,
      fps: 25,
      frames: 71,
      frames_with_face: 71,
      size_bytes: 80_000,
      engine: "builtin",
    },
  });
}
