import { describe, expect, it } from "vitest";
import { CraftError, isCraftError, makeCraftConfig } from "../src/index.js";

const caught = (f: () => unknown): CraftError => {
  try {
    f();
  } catch (e) {
    if (isCraftError(e)) return e;
    throw e;
  }
  throw new Error("expected a CraftError, nothing was thrown");
};

describe("CraftError at craft-core's configuration boundary", () => {
  it("an out-of-range value is an InvalidConfig naming the field, the expected range and the value found", () => {
    const e = caught(() => makeCraftConfig({ lambda_ema: 2 }));
    expect(e._tag).toBe("InvalidConfig");
    expect(e.field).toBe("craft.lambda_ema");
    expect(e.expected).toBe("number in [0, 1)");
    expect(e.actual).toBe("2");
    expect(e.message).toBe("invalid CRaFT config:\n  - craft.lambda_ema: expected number in [0, 1), got 2");
  });

  it("an ill-typed value names the codec's type; every problem stays in the message", () => {
    const e = caught(() => makeCraftConfig({ surgery: "sideways", lambda_lr: "fast" } as never));
    expect(e._tag).toBe("InvalidConfig");
    expect(e.field).toBe("craft.lambda_lr");
    expect(e.expected).toBe("number");
    expect(e.actual).toBe('"fast"');
    expect(e.message).toContain('craft.surgery: expected "none" | "project_task" | "pcgrad", got "sideways"');
  });

  it("a cross-field rule names the field it constrains", () => {
    const e = caught(() => makeCraftConfig({ initial_lambda: 5, lambda_max: 2 }));
    expect(e.field).toBe("craft.initial_lambda");
    expect(e.expected).toBe("number in [0, lambda_max=2]");
    expect(e.actual).toBe("5");
  });

  it("an unknown field names the accepted fields", () => {
    const e = caught(() => makeCraftConfig({ lambda_lrr: 0.1 } as never));
    expect(e.field).toBe("craft.lambda_lrr");
    expect(e.expected).toMatch(/^one of enable, initial_lambda, lambda_lr,/);
    expect(e.message).toContain("craft.lambda_lrr: unknown field (did you mean craft.lambda_lr?)");
  });
});
