import { useEffect, useRef, useState } from "react";
import { withAccessToken } from "../api/token";
import type { Job } from "../api/types";
import { formatBytes, shortId } from "../lib/format";
import { useApiToken } from "../lib/useApiToken";
import { repairDuration } from "../media/duration";

/** The picture the job started from, when this page still has it. */
export interface Original {
  url: string;
  kind: "video" | "image";
}

interface ResultViewProps {
  job: Job;
  original: Original | null;
}

/** Keeps the original in step with the result while comparing: play, pause and seek. */
function useFollower(leader: HTMLVideoElement | null, follower: HTMLVideoElement | null): void {
  useEffect(() => {
    if (leader === null || follower === null) return;
    const play = () => {
      follower.currentTime = leader.currentTime;
      follower.play()?.catch(() => {});
    };
    const pause = () => follower.pause();
    const seek = () => {
      follower.currentTime = leader.currentTime;
    };
    leader.addEventListener("play", play);
    leader.addEventListener("pause", pause);
    leader.addEventListener("seeked", seek);
    return () => {
      leader.removeEventListener("play", play);
      leader.removeEventListener("pause", pause);
      leader.removeEventListener("seeked", seek);
    };
  }, [leader, follower]);
}

/** The finished video: player, side-by-side comparison with the original, download. */
export function ResultView({ job, original }: ResultViewProps) {
  const [comparing, setComparing] = useState(false);
  const [synced, setSynced] = useState<HTMLVideoElement | null>(null);
  const [originalVideo, setOriginalVideo] = useState<HTMLVideoElement | null>(null);
  const heading = useRef<HTMLHeadingElement>(null);
  // <video> and <a download> cannot send headers: the API token goes in their URLs.
  const { token } = useApiToken();
  useFollower(comparing ? synced : null, originalVideo);
  useEffect(() => (originalVideo === null ? undefined : repairDuration(originalVideo)), [originalVideo]);

  useEffect(() => {
    setComparing(false);
  }, [job.id]);

  const result = job.result;
  if (result === null) return null;
  const facts = [
    result.duration_s !== null ? `${result.duration_s.toFixed(1)} s` : null,
    result.size_bytes !== null ? formatBytes(result.size_bytes) : null,
    result.engine !== null ? `engine ${result.engine}` : null,
    result.frames !== null && result.frames_with_face !== null
      ? `face found in ${result.frames_with_face} of ${result.frames} frames`
      : null,
  ].filter((fact): fact is string => fact !== null);

  return (
    <section className="card result" aria-labelledby="result-heading">
      <h2 id="result-heading" ref={heading} tabIndex={-1}>
        Result
      </h2>
      <p className="hint">
        Job {shortId(job.id)} · {facts.join(" · ")}
      </p>
      <div className={comparing ? "compare-grid" : "single"}>
        <figure>
          <video
            key={result.url}
            ref={setSynced}
            src={withAccessToken(result.url, token)}
            controls
            playsInline
            preload="metadata"
            aria-label="Synced video"
          />
          {comparing && <figcaption>Lip-synced</figcaption>}
        </figure>
        {comparing && original !== null && (
          <figure>
            {original.kind === "video" ? (
              <video ref={setOriginalVideo} src={original.url} muted playsInline controls aria-label="Original video" />
            ) : (
              <img src={original.url} alt="Original photo" />
            )}
            <figcaption>Original{original.kind === "video" ? " (muted, follows the result)" : ""}</figcaption>
          </figure>
        )}
      </div>
      <div className="actions">
        <a className="button primary" href={withAccessToken(result.download_url, token)} download={`lipsync-${shortId(job.id)}.mp4`}>
          Download
        </a>
        <button
          type="button"
          aria-pressed={comparing}
          disabled={original === null}
          aria-describedby={original === null ? "compare-hint" : undefined}
          onClick={() => setComparing((value) => !value)}
        >
          Compare with original
        </button>
      </div>
      {original === null && (
        <p id="compare-hint" className="hint">
          The original is only at hand for jobs made in this tab.
        </p>
      )}
    </section>
  );
}
