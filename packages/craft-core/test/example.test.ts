import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const packageDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const example = path.join(packageDir, "examples", "constrained-quadratic.mjs");

describe("examples/constrained-quadratic.mjs (runs the built dist)", () => {
  it("prints λ, ε and both losses and ends with the retention loss on ε", () => {
    expect(existsSync(path.join(packageDir, "dist", "index.js")), "build first: npx tsup").toBe(true);
    const output = execFileSync(process.execPath, [example], { encoding: "utf8" });
    const lines = output.trim().split("\n");
    expect(lines[1]).toMatch(/step\s+lambda\s+epsilon\s+task_loss\s+retention_loss/);
    expect(lines.length).toBeGreaterThan(20);
    const final = lines[lines.length - 1];
    const lambda = Number(/lambda=([\d.]+)/.exec(final)?.[1]);
    const percent = Number(/within ([\d.]+)% of epsilon/.exec(final)?.[1]);
    expect(lambda).toBeCloseTo(2, 2);
    expect(percent).toBeLessThan(5);
  });

  it("rejects bad --craft flags with the field named, exit code 2", () => {
    let stderr = "";
    let status = 0;
    try {
      execFileSync(process.execPath, [example, "--craft.epsilon_end=x"], { encoding: "utf8", stdio: "pipe" });
    } catch (error) {
      ({ stderr, status } = error as { stderr: string; status: number });
    }
    expect(status).toBe(2);
    expect(stderr).toContain('craft.epsilon_end: expected number, got "x"');
  });
});
