import { useCallback, useEffect, useRef, useState } from "react";
import { getEngines, getOptions, listJobs } from "./api/client";
import { forgetApiToken, withAccessToken } from "./api/token";
import type { EnginesResponse, Job, OptionField } from "./api/types";
import { ApiTokenForm } from "./components/ApiTokenForm";
import { AudioInput } from "./components/AudioInput";
import { ErrorBanner } from "./components/ErrorBanner";
import { JobHistory } from "./components/JobHistory";
import { MergePanel } from "./components/MergePanel";
import { OptionsForm, changedOptions, defaultValues, type OptionValues } from "./components/OptionsForm";
import { ResultView, type Original } from "./components/ResultView";
import { VideoInput } from "./components/VideoInput";
import { appErrorFrom, type AppError } from "./lib/appError";
import type { MediaChoice } from "./lib/mediaChoice";
import { useApiToken } from "./lib/useApiToken";
import { useJobRunner } from "./lib/useJobRunner";

const HISTORY_LENGTH = 10;

function mergeHint(audio: MediaChoice | null, video: MediaChoice | null, busy: boolean): string | null {
  if (busy) return "A job is under way: cancel it or wait for it to finish.";
  if (audio === null && video === null) return "Record or upload the speech and the face first.";
  if (audio === null) return "Record or upload the speech first.";
  if (video === null) return "Record or upload the face first.";
  return null;
}

/** The error to show in a banner: a missing API token is asked for by the token form. */
function unlessAuth(error: AppError | null): AppError | null {
  return error?.kind === "auth" ? null : error;
}

export function App() {
  const [audio, setAudio] = useState<MediaChoice | null>(null);
  const [video, setVideo] = useState<MediaChoice | null>(null);
  const [fields, setFields] = useState<OptionField[]>([]);
  const [engines, setEngines] = useState<EnginesResponse | null>(null);
  const [values, setValues] = useState<OptionValues>({});
  const [setupError, setSetupError] = useState<AppError | null>(null);
  const [history, setHistory] = useState<Job[]>([]);
  const [historyError, setHistoryError] = useState<AppError | null>(null);
  // Object URLs of the pictures this tab submitted, by job id, for "Compare with original".
  const originals = useRef(new Map<string, Original>());

  const loadSetup = useCallback(() => {
    setSetupError(null);
    Promise.all([getOptions(), getEngines()]).then(
      ([options, engineList]) => {
        setFields(options.fields);
        setValues(defaultValues(options.fields));
        setEngines(engineList);
      },
      (caught: unknown) => setSetupError(appErrorFrom(caught, loadSetup)),
    );
  }, []);

  const refreshHistory = useCallback(() => {
    listJobs(HISTORY_LENGTH).then(
      (jobs) => {
        setHistory(jobs);
        setHistoryError(null);
      },
      (caught: unknown) => setHistoryError(appErrorFrom(caught, refreshHistory)),
    );
  }, []);

  useEffect(() => {
    loadSetup();
    refreshHistory();
  }, [loadSetup, refreshHistory]);

  // The picture being uploaded, kept for "Compare with original" once the job has an id.
  const pendingOriginal = useRef<Original | null>(null);
  const runner = useJobRunner({
    onSubmitted(created) {
      if (pendingOriginal.current !== null) originals.current.set(created.id, pendingOriginal.current);
      pendingOriginal.current = null;
      refreshHistory();
    },
    onFinished: refreshHistory,
  });
  const busy = runner.phase === "uploading" || runner.phase === "watching";
  const hint = mergeHint(audio, video, busy);
  const job = runner.job;
  const apiToken = useApiToken();

  /** With a token saved: loads what the server refused, and retries the failed job action. */
  const retryWithToken = () => {
    loadSetup();
    setHistoryError(null);
    refreshHistory();
    const failed = runner.error;
    if (failed?.kind === "auth") {
      if (failed.retry) failed.retry();
      else runner.dismissError();
    }
  };

  const merge = () => {
    if (audio === null || video === null) return;
    if (pendingOriginal.current !== null) URL.revokeObjectURL(pendingOriginal.current.url);
    pendingOriginal.current = {
      url: URL.createObjectURL(video.blob),
      kind: video.kind === "image" ? "image" : "video",
    };
    runner.submit({
      video: { blob: video.blob, filename: video.filename },
      audio: { blob: audio.blob, filename: audio.filename },
      options: changedOptions(fields, values),
    });
  };

  const open = (chosen: Job) => {
    runner.open(chosen);
    document.getElementById("merge-heading")?.scrollIntoView?.({ behavior: "smooth", block: "start" });
  };

  return (
    <>
      <header className="app-header">
        <h1>Lipsync</h1>
        <p>Make a face say your words: give it speech and a face, then merge.</p>
      </header>
      <main className="layout">
        {apiToken.rejected && (
          <div className="wide">
            <ApiTokenForm hadToken={apiToken.token !== null} onSaved={retryWithToken} />
          </div>
        )}
        {unlessAuth(setupError) && (
          <div className="wide">
            <ErrorBanner error={unlessAuth(setupError)} />
          </div>
        )}
        <div className="column">
          <AudioInput onChange={setAudio} />
          <VideoInput onChange={setVideo} />
          <OptionsForm fields={fields} engines={engines} values={values} onChange={setValues} disabled={busy} />
        </div>
        <div className="column">
          <MergePanel
            canMerge={hint === null}
            mergeHint={hint}
            phase={runner.phase}
            uploadFraction={runner.uploadFraction}
            job={job}
            error={unlessAuth(runner.error)}
            cancelling={runner.cancelling}
            onMerge={merge}
            onCancel={runner.cancel}
            onCancelUpload={runner.cancelUpload}
            onDismissError={runner.dismissError}
          />
          {job !== null && job.status === "succeeded" && (
            <ResultView job={job} original={originals.current.get(job.id) ?? null} />
          )}
          <JobHistory
            jobs={history.map((entry) => (job !== null && entry.id === job.id ? job : entry))}
            currentId={job?.id ?? null}
            error={unlessAuth(historyError)}
            onOpen={open}
            onRefresh={refreshHistory}
          />
        </div>
      </main>
      <footer className="app-footer">
        <a href={withAccessToken("/api/docs", apiToken.token)}>API reference</a>
        {apiToken.token !== null && (
          <>
            {" · An API token is saved in this browser. "}
            <button type="button" className="quiet" onClick={forgetApiToken}>
              Forget API token
            </button>
          </>
        )}
      </footer>
    </>
  );
}
