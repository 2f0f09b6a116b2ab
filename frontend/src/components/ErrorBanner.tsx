import type { AppError } from "../lib/appError";

const CONNECTION_TEXT =
  "Lost the connection to the server. Check your network and that Lipsync is still running.";

/** The sentence the banner shows for an error. */
export function errorText(error: AppError): string {
  switch (error.kind) {
    case "connection":
      return CONNECTION_TEXT;
    case "job":
      return `The job failed: ${error.message}`;
    default:
      return error.message;
  }
}

interface ErrorBannerProps {
  error: AppError | null;
  onDismiss?: () => void;
}

/** An error as an alert, with "Retry" when the failed action can be tried again (for a
 * missing API token, saving one in the token form retries instead). */
export function ErrorBanner({ error, onDismiss }: ErrorBannerProps) {
  if (error === null) return null;
  return (
    <div className={`banner banner-${error.kind}`} role="alert">
      <p className="banner-text">{errorText(error)}</p>
      <div className="banner-actions">
        {error.retry && error.kind !== "auth" && (
          <button type="button" onClick={error.retry}>
            Retry
          </button>
        )}
        {onDismiss && (
          <button type="button" className="quiet" onClick={onDismiss} aria-label="Dismiss error">
            ×
          </button>
        )}
      </div>
    </div>
  );
}
