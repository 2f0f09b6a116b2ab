export type SourceMode = "record" | "upload";

interface SourceSwitchProps {
  legend: string;
  name: string;
  mode: SourceMode;
  recordLabel: string;
  uploadLabel: string;
  recordDisabled: boolean;
  onChange(mode: SourceMode): void;
}

/** Two radio buttons: record from a device, or upload a file. */
export function SourceSwitch(props: SourceSwitchProps) {
  const { legend, name, mode, recordLabel, uploadLabel, recordDisabled, onChange } = props;
  return (
    <fieldset className="source-switch">
      <legend className="visually-hidden">{legend}</legend>
      <label className={recordDisabled ? "disabled" : undefined}>
        <input
          type="radio"
          name={name}
          value="record"
          checked={mode === "record"}
          disabled={recordDisabled}
          onChange={() => onChange("record")}
        />
        {recordLabel}
      </label>
      <label>
        <input
          type="radio"
          name={name}
          value="upload"
          checked={mode === "upload"}
          onChange={() => onChange("upload")}
        />
        {uploadLabel}
      </label>
    </fieldset>
  );
}
