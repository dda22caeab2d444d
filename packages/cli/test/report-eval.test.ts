import { describe, expect, it } from "vitest";
import { evalSuccessFigure } from "../src/report/figures";
import { parseMetricsLog, stepOrderWarning } from "../src/report/metricsLog";

/** What craft train writes with --eval_freq=2 --env.type=… and --log_freq=1: an eval/* line after its step's line. */
const LOG = [
  { step: 1, loss: 3, lr: 0.001 },
  { step: 2, loss: 2.5, lr: 0.001 },
  { step: 2, "eval/success": 0.25, "eval/pc_success": 25, "eval/avg_sum_reward": 0.25, "eval/n_episodes": 4, "eval/invalid_decodes": 3 },
  { step: 3, loss: 2, lr: 0.001 },
  { step: 4, "eval/success": 0.5, "eval/pc_success": 50, "eval/avg_sum_reward": 0.5, "eval/n_episodes": 4, "eval/invalid_decodes": 1 },
]
  .map((l) => JSON.stringify(l))
  .join("\n");

describe("craft report: periodic evaluations in metrics.jsonl", () => {
  it("an evaluation line joins its step's training line (no repeated step); one at a step without a log line stands alone", () => {
    const points = parseMetricsLog(`${LOG}\n`, "metrics.jsonl");
    expect(points.map((p) => p.step)).toEqual([1, 2, 3, 4]);
    expect(points[1]!.values).toEqual({ loss: 2.5, lr: 0.001, "eval/success": 0.25, "eval/pc_success": 25, "eval/avg_sum_reward": 0.25, "eval/invalid_decodes": 3 });
    expect(points[3]!.values).toEqual({ "eval/success": 0.5, "eval/pc_success": 50, "eval/avg_sum_reward": 0.5, "eval/invalid_decodes": 1 });
    expect(stepOrderWarning(points, "metrics.jsonl")).toBeUndefined();
    // Two training lines at one step still are two runs in one output_dir.
    expect(stepOrderWarning(parseMetricsLog(`${LOG}\n{"step":3,"loss":1}\n`, "m"), "m")).toMatch(/repeat or go back/);
  });

  it("eval_success.png plots eval/success over the steps it was measured at, and is not drawn for runs that never evaluated", () => {
    const log = { label: "run", path: "metrics.jsonl", points: parseMetricsLog(LOG, "metrics.jsonl") };
    const figure = evalSuccessFigure([{ name: "run", runs: [log] }], "run", ["run"]);
    expect(figure?.file).toBe("eval_success.png");
    const rows = (figure!.spec as unknown as { data: { values: { step: number; value: number }[] } }).data.values;
    expect(rows.map((r) => [r.step, r.value])).toEqual([
      [2, 0.25],
      [4, 0.5],
    ]);
    const plain = { label: "run", path: "m", points: parseMetricsLog('{"step":1,"loss":3}\n', "m") };
    expect(evalSuccessFigure([{ name: "run", runs: [plain] }], "run", ["run"])).toBeUndefined();
  });
});
