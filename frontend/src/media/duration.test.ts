import { describe, expect, it } from "vitest";
import { repairDuration } from "./duration";

/** A test double of a media element whose duration is Infinity until the end is read. */
class FakeMediaElement extends EventTarget {
  duration = Number.NaN;
  readyState = 0;
  private time = 0;
  get currentTime(): number {
    return this.time;
  }
  set currentTime(value: number) {
    this.time = value;
    if (value > 1e100 && this.duration === Infinity) {
      this.duration = 2.5; // the browser scanned the file
      this.dispatchEvent(new Event("durationchange"));
    }
  }
}

describe("repairDuration", () => {
  it("learns the length of a recording without one and returns to the start", () => {
    const element = new FakeMediaElement();
    repairDuration(element as unknown as HTMLMediaElement);
    element.duration = Infinity;
    element.readyState = 1;
    element.dispatchEvent(new Event("loadedmetadata"));
    expect(element.duration).toBe(2.5);
    expect(element.currentTime).toBe(0);
  });

  it("leaves a file with a known duration alone", () => {
    const element = new FakeMediaElement();
    repairDuration(element as unknown as HTMLMediaElement);
    element.duration = 4;
    element.currentTime = 1;
    element.dispatchEvent(new Event("loadedmetadata"));
    expect(element.currentTime).toBe(1);
  });
});
