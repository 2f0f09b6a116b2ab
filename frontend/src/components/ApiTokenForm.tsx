import { useId, useState, type FormEvent } from "react";
import { saveApiToken } from "../api/token";

interface ApiTokenFormProps {
  /** Whether a token was saved before the server refused it (a wrong or revoked one). */
  hadToken: boolean;
  /** Called once the token is saved: tries the refused requests again. */
  onSaved(): void;
}

/** Asks for the API token after the server answered 401; saving it stores it in this browser. */
export function ApiTokenForm({ hadToken, onSaved }: ApiTokenFormProps) {
  const [value, setValue] = useState("");
  const id = useId();

  const submit = (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    if (value.trim() === "") return;
    saveApiToken(value);
    setValue("");
    onSaved();
  };

  return (
    <form className="banner banner-auth token-form" onSubmit={submit}>
      <div className="token-form-body">
        <p className="banner-text" role="alert">
          This server requires an API token; ask its administrator.
          {hadToken && " The saved token was refused."}
        </p>
        <div className="token-form-row">
          <label htmlFor={`${id}-input`}>API token</label>
          <input
            id={`${id}-input`}
            type="password"
            autoComplete="off"
            spellCheck={false}
            value={value}
            onChange={(event) => setValue(event.target.value)}
          />
          <button type="submit" className="primary" disabled={value.trim() === ""}>
            Save token
          </button>
        </div>
      </div>
    </form>
  );
}
