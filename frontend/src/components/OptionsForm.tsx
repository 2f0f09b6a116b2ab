import { useId } from "react";
import type { EnginesResponse, OptionField } from "../api/types";
import { fieldLabel } from "../lib/format";

/** Form values as the API takes them: every field a string ("" = the default). */
export type OptionValues = Record<string, string>;

// The fields shown up front, with the labels the page promises; the rest sit under "More".
const MAIN_FIELDS = ["engine", "enhancer", "face", "loop"] as const;

/** A field's default as the form spells it (tuples comma-separated, booleans true/false). */
export function defaultText(field: OptionField): string {
  const value = field.default;
  if (value === null || value === undefined) return "";
  if (Array.isArray(value)) return value.join(",");
  return String(value);
}

export function defaultValues(fields: OptionField[]): OptionValues {
  return Object.fromEntries(fields.map((field) => [field.name, defaultText(field)]));
}

/** Only the options the user changed: the server fills in the rest with its defaults. */
export function changedOptions(fields: OptionField[], values: OptionValues): OptionValues {
  const changed: OptionValues = {};
  for (const field of fields) {
    const value = (values[field.name] ?? "").trim();
    if (value !== defaultText(field)) changed[field.name] = value;
  }
  return changed;
}

interface OptionsFormProps {
  fields: OptionField[];
  engines: EnginesResponse | null;
  values: OptionValues;
  onChange(values: OptionValues): void;
  disabled?: boolean;
}

interface Choice {
  value: string;
  label: string;
  disabled: boolean;
  description: string;
}

function engineChoices(engines: EnginesResponse | null): Choice[] {
  const installed = engines?.engines.filter((engine) => engine.installed) ?? [];
  const best = installed.find((engine) => !engine.for_tests)?.name;
  const automatic: Choice = {
    value: "auto",
    label: best ? `Automatic (${best})` : "Automatic",
    disabled: false,
    description: "Uses the best engine installed on the server.",
  };
  const listed = (engines?.engines ?? [])
    .filter((engine) => engine.installed || !engine.for_tests)
    .map((engine) => ({
      value: engine.name,
      label: engine.installed ? engine.name : `${engine.name} (not installed)`,
      disabled: !engine.installed,
      description: engine.description,
    }));
  return [automatic, ...listed];
}

function enhancerChoices(engines: EnginesResponse | null): Choice[] {
  const none: Choice = {
    value: "none",
    label: "None",
    disabled: false,
    description: "No enhancement: the fastest.",
  };
  const listed = (engines?.enhancers ?? []).map((enhancer) => ({
    value: enhancer.name,
    label: enhancer.installed ? enhancer.name : `${enhancer.name} (not installed)`,
    disabled: !enhancer.installed,
    description: enhancer.description,
  }));
  return [none, ...listed];
}

/** The job's options, generated from /api/options, with engines and enhancers from
 * /api/engines (those not installed are listed but cannot be chosen). */
export function OptionsForm({ fields, engines, values, onChange, disabled }: OptionsFormProps) {
  const id = useId();
  const byName = new Map(fields.map((field) => [field.name, field]));
  const set = (name: string, value: string) => onChange({ ...values, [name]: value });
  const value = (name: string) => values[name] ?? "";

  const engineField = byName.get("engine");
  const enhancerField = byName.get("enhancer");
  const faceField = byName.get("face");
  const loopField = byName.get("loop");
  const others = fields.filter((field) => !(MAIN_FIELDS as readonly string[]).includes(field.name));

  const engineList = engineChoices(engines);
  const enhancerList = enhancerChoices(engines);
  const describe = (list: Choice[], selected: string, fallback: string) =>
    list.find((choice) => choice.value === selected)?.description ?? fallback;

  return (
    <section className="card" aria-labelledby={`${id}-heading`}>
      <h2 id={`${id}-heading`}>Options</h2>
      <fieldset disabled={disabled} className="options-grid">
        <legend className="visually-hidden">Lip-sync options</legend>
        {engineField && (
          <SelectField
            id={`${id}-engine`}
            label="Engine"
            value={value("engine")}
            choices={engineList}
            description={describe(engineList, value("engine"), engineField.help)}
            onChange={(next) => set("engine", next)}
          />
        )}
        {enhancerField && (
          <SelectField
            id={`${id}-enhancer`}
            label="Enhancer"
            value={value("enhancer")}
            choices={enhancerList}
            description={
              enhancerList.length > 1
                ? describe(enhancerList, value("enhancer"), enhancerField.help)
                : "No enhancers are installed on this server."
            }
            onChange={(next) => set("enhancer", next)}
          />
        )}
        {faceField && (
          <TextField
            id={`${id}-face`}
            label="Face"
            value={value("face")}
            placeholder={defaultText(faceField)}
            description={faceField.help}
            onChange={(next) => set("face", next)}
          />
        )}
        {loopField && (
          <SelectField
            id={`${id}-loop`}
            label="Loop mode"
            value={value("loop")}
            choices={loopField.choices.map((choice) => ({
              value: choice,
              label: choice,
              disabled: false,
              description: loopField.help,
            }))}
            description={loopField.help}
            onChange={(next) => set("loop", next)}
          />
        )}
      </fieldset>
      {others.length > 0 && (
        <details className="more-options">
          <summary>More options</summary>
          <fieldset disabled={disabled} className="options-grid">
            <legend className="visually-hidden">More options</legend>
            {others.map((field) => (
              <GenericField
                key={field.name}
                id={`${id}-${field.name}`}
                field={field}
                value={value(field.name)}
                onChange={(next) => set(field.name, next)}
              />
            ))}
          </fieldset>
        </details>
      )}
    </section>
  );
}

interface FieldProps {
  id: string;
  label: string;
  value: string;
  description: string;
  onChange(value: string): void;
}

function SelectField({ id, label, value, description, onChange, choices }: FieldProps & { choices: Choice[] }) {
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      <select id={id} value={value} aria-describedby={`${id}-help`} onChange={(e) => onChange(e.currentTarget.value)}>
        {choices.map((choice) => (
          <option key={choice.value} value={choice.value} disabled={choice.disabled}>
            {choice.label}
          </option>
        ))}
      </select>
      <p id={`${id}-help`} className="hint">
        {description}
      </p>
    </div>
  );
}

function TextField({
  id,
  label,
  value,
  description,
  onChange,
  placeholder,
  inputMode,
  pattern,
  type = "text",
  step,
}: FieldProps & { placeholder?: string; inputMode?: "decimal" | "numeric"; pattern?: string; type?: string; step?: string }) {
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      <input
        id={id}
        type={type}
        value={value}
        placeholder={placeholder}
        inputMode={inputMode}
        pattern={pattern}
        step={step}
        autoComplete="off"
        spellCheck={false}
        aria-describedby={`${id}-help`}
        onChange={(e) => onChange(e.currentTarget.value)}
      />
      <p id={`${id}-help`} className="hint">
        {description}
      </p>
    </div>
  );
}

/** Any other option, by its kind: choice → select, bool → checkbox, numbers, tuples, text. */
function GenericField({ id, field, value, onChange }: { id: string; field: OptionField; value: string; onChange(value: string): void }) {
  const label = fieldLabel(field.name);
  if (field.kind === "bool") {
    return (
      <div className="field checkbox">
        <input
          id={id}
          type="checkbox"
          checked={value === "true"}
          aria-describedby={`${id}-help`}
          onChange={(e) => onChange(e.currentTarget.checked ? "true" : "false")}
        />
        <label htmlFor={id}>{label}</label>
        <p id={`${id}-help`} className="hint">
          {field.help}
        </p>
      </div>
    );
  }
  if (field.kind === "choice" && field.choices.length > 0) {
    const choices = field.choices.map((choice) => ({ value: choice, label: choice, disabled: false, description: field.help }));
    return <SelectField id={id} label={label} value={value} choices={choices} description={field.help} onChange={onChange} />;
  }
  const numeric = field.kind === "int" || field.kind === "float";
  const placeholder = field.kind === "int_tuple" ? Array(field.length || 4).fill("0").join(",") : field.optional ? "default" : undefined;
  return (
    <TextField
      id={id}
      label={label}
      value={value}
      description={field.help}
      onChange={onChange}
      type={numeric ? "number" : "text"}
      step={field.kind === "int" ? "1" : numeric ? "any" : undefined}
      inputMode={field.kind === "int" ? "numeric" : numeric ? "decimal" : undefined}
      placeholder={placeholder}
    />
  );
}
