import { useEffect, useId, useState } from "react";
import { formatBytes } from "../lib/format";
import { kindOfFile, type MediaChoice } from "../lib/mediaChoice";

interface FilePickerProps {
  label: string;
  accept: string;
  hint: string;
  onChange(choice: MediaChoice | null): void;
}

/** A labelled file input with a preview of the chosen file. */
export function FilePicker({ label, accept, hint, onChange }: FilePickerProps) {
  const id = useId();
  const [file, setFile] = useState<File | null>(null);
  const [url, setUrl] = useState<string | null>(null);

  useEffect(() => {
    if (file === null) {
      setUrl(null);
      return;
    }
    const created = URL.createObjectURL(file);
    setUrl(created);
    return () => URL.revokeObjectURL(created);
  }, [file]);

  // A preview only for what the browser calls media: a text file would show a broken player.
  const previewable = file !== null && (file.type === "" || /^(audio|video|image)\//.test(file.type));
  const kind = file === null || !previewable ? null : kindOfFile(file);
  return (
    <div className="file-picker">
      <label htmlFor={id}>{label}</label>
      <input
        id={id}
        type="file"
        accept={accept}
        aria-describedby={`${id}-hint`}
        onChange={(event) => {
          const picked = event.currentTarget.files?.[0] ?? null;
          setFile(picked);
          onChange(
            picked === null
              ? null
              : { blob: picked, filename: picked.name, kind: kindOfFile(picked), source: "uploaded" },
          );
        }}
      />
      <p id={`${id}-hint`} className="hint">
        {file === null ? hint : `${file.name} · ${formatBytes(file.size)}`}
      </p>
      {url !== null && kind === "audio" && (
        <audio controls src={url} aria-label="Chosen audio" className="playback" />
      )}
      {url !== null && kind === "video" && (
        <video controls playsInline src={url} aria-label="Chosen video" className="playback" />
      )}
      {url !== null && kind === "image" && (
        <img src={url} alt="Chosen photo" className="playback" />
      )}
    </div>
  );
}
