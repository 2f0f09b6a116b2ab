import { render, screen, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { useState } from "react";
import { describe, expect, it } from "vitest";
import { engines, optionFields } from "../test/fixtures";
import { OptionsForm, changedOptions, defaultValues, type OptionValues } from "./OptionsForm";

function Harness({ onValues }: { onValues?: (values: OptionValues) => void }) {
  const [values, setValues] = useState(defaultValues(optionFields));
  return (
    <OptionsForm
      fields={optionFields}
      engines={engines}
      values={values}
      onChange={(next) => {
        setValues(next);
        onValues?.(next);
      }}
    />
  );
}

describe("OptionsForm", () => {
  it("renders the main options from /api/options with descriptions", () => {
    render(<Harness />);
    expect(screen.getByRole("heading", { name: "Options" })).toBeInTheDocument();
    const engine = screen.getByRole("combobox", { name: "Engine" });
    expect(engine).toHaveValue("auto");
    expect(engine).toHaveAccessibleDescription("Uses the best engine installed on the server.");
    expect(screen.getByRole("combobox", { name: "Loop mode" })).toHaveValue("pingpong");
    expect(screen.getByRole("combobox", { name: "Loop mode" })).toHaveAccessibleDescription(
      /When the audio is longer than the video/,
    );
    expect(screen.getByRole("textbox", { name: "Face" })).toHaveValue("largest");
    expect(screen.getByRole("textbox", { name: "Face" })).toHaveAccessibleDescription(/Which face to sync/);
    expect(screen.getByRole("combobox", { name: "Enhancer" })).toHaveValue("none");
  });

  it("lists engines and enhancers, with those not installed disabled and test engines hidden", () => {
    render(<Harness />);
    const engine = screen.getByRole("combobox", { name: "Engine" });
    const options = within(engine).getAllByRole("option");
    expect(options.map((option) => option.textContent)).toEqual([
      "Automatic (builtin)",
      "wav2lip (not installed)",
      "builtin",
    ]);
    expect(within(engine).getByRole("option", { name: "wav2lip (not installed)" })).toBeDisabled();
    const enhancer = screen.getByRole("combobox", { name: "Enhancer" });
    expect(within(enhancer).getByRole("option", { name: "codeformer (not installed)" })).toBeDisabled();
    expect(within(enhancer).getByRole("option", { name: "gfpgan" })).toBeEnabled();
  });

  it("describes the chosen engine, and sends only the options that changed", async () => {
    const user = userEvent.setup();
    let latest: OptionValues = {};
    render(<Harness onValues={(values) => (latest = values)} />);
    const engine = screen.getByRole("combobox", { name: "Engine" });
    await user.selectOptions(engine, "builtin");
    expect(engine).toHaveAccessibleDescription(/The built-in engine/);
    await user.selectOptions(screen.getByRole("combobox", { name: "Loop mode" }), "forward");
    await user.click(screen.getByText("More options", { selector: "summary" }));
    await user.click(screen.getByRole("checkbox", { name: "Smooth" }));
    await user.clear(screen.getByRole("spinbutton", { name: "Batch size" }));
    await user.type(screen.getByRole("spinbutton", { name: "Batch size" }), "8");
    expect(screen.getByRole("textbox", { name: "Pads" })).toHaveValue("0,10,0,0");
    expect(screen.getByRole("spinbutton", { name: "Still duration (s)" })).toHaveValue(null);
    expect(changedOptions(optionFields, latest)).toEqual({
      engine: "builtin",
      loop: "forward",
      smooth: "false",
      batch_size: "8",
    });
  });
});
