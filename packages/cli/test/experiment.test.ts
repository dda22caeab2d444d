import { existsSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { writeReport } from "../src/index.js";
import { CRAFT_EPSILON_ENDS, EVAL_SEED, RETENTION_METHODS, RETENTION_PAIRS, RETENTION_PRESETS, REPLAY_WEIGHTS, runRetentionExperiment } from "../src/experiment/retention.js";
import { successStep } from "../src/pipeline.js";
import { ROLLOUT_OUTCOMES } from "../src/rollout.js";
import { decodeSummary, type MethodResult } from "../src/report/summary.js";
import { tempDir } from "./helpers.js";

type Means = Record<string, number>;
const SUCCESS_KEYS = ["anchor_success_base", "anchor_success", "task_success_base", "task_success"] as const;

describe("retention experiment (smoke preset: the smallest sizes that still show the effect)", () => {
  it("runs both pairs with every method and sweep, measures closed-loop success, and writes the summary and report", async () => {
    const out = join(tempDir("retention"), "exp");
    const summary = await runRetentionExperiment({ outputDir: out, preset: "smoke", device: "wasm", log: () => {} });
    // The file on disk decodes with the report's codec (the one declaration of its shape).
    const onDisk = decodeSummary(JSON.parse(readFileSync(join(out, "summary.json"), "utf8")), "summary.json");
    expect(onDisk).toEqual(JSON.parse(JSON.stringify(summary)));
    const n = RETENTION_PRESETS.smoke.evalEpisodes;

    // Both pairs, the instruction-conditioned one first; the top level stays the reach → push pair.
    expect(Object.keys(summary.pairs!)).toEqual(RETENTION_PAIRS.map((p) => p.name));
    expect(Object.keys(summary.pairs!)[0]).toBe("red_to_blue");
    expect(summary.methods).toEqual(summary.pairs!.reach_to_push!.methods);
    expect(summary.pairs!.red_to_blue!.anchor!.instruction).toBe("reach the red target");
    expect(summary.pairs!.red_to_blue!.task!.instruction).toBe("reach the blue target");

    for (const [pairName, pair] of Object.entries(summary.pairs!)) {
      expect(Object.keys(pair.methods).sort()).toEqual([...RETENTION_METHODS].sort());
      expect(pair.sweeps!.craft_epsilon_end!.map((p) => p.value)).toEqual([...CRAFT_EPSILON_ENDS]);
      expect(pair.sweeps!.replay_weight!.map((p) => p.value)).toEqual([...REPLAY_WEIGHTS]);
      expect(CRAFT_EPSILON_ENDS.length).toBeGreaterThanOrEqual(3);
      expect(REPLAY_WEIGHTS.length).toBeGreaterThanOrEqual(3);
      const runs: [string, MethodResult][] = [...Object.entries(pair.methods), ...Object.values(pair.sweeps!).flatMap((points) => points.map((p): [string, MethodResult] => [p.run, p]))];
      for (const [run, result] of runs) {
        const where = `${pairName}/${run}`;
        const mean = result.mean as Means;
        for (const key of ["anchor_loss_base", "anchor_loss_final", "anchor_kl_final", "task_loss_final", ...SUCCESS_KEYS]) expect(Number.isFinite(mean[key]), `${where} mean.${key}`).toBe(true);
        // A bound only where a run has one: CRaFT's in nats of KL, craft_token's a multiple of the base's token loss.
        if (run === "naive" || run.startsWith("replay")) expect(mean.epsilon_end, `${where} has no ε`).toBeNull();
        else expect(Number.isFinite(mean.epsilon_end), `${where} mean.epsilon_end`).toBe(true);
        for (const row of result.seeds!) {
          expect(existsSync(join(out, row.run_dir!, "metrics.jsonl")), `${where} metrics.jsonl`).toBe(true);
          expect(row.n_episodes).toBe(n);
          for (const key of SUCCESS_KEYS) {
            const v = row[key]!;
            expect(v >= 0 && v <= 1, `${where} ${key} = ${v}`).toBe(true);
          }
          for (const [side, outcomes, success] of [
            ["anchor", row.outcomes!.anchor!, row.anchor_success],
            ["task", row.outcomes!.task!, row.task_success],
            ["anchor (base)", row.outcomes_base!.anchor!, row.anchor_success_base],
            ["task (base)", row.outcomes_base!.task!, row.task_success_base],
          ] as const) {
            expect(Object.keys(outcomes).sort(), `${where} ${side} outcomes`).toEqual([...ROLLOUT_OUTCOMES].sort());
            expect(Object.values(outcomes).reduce((a, b) => a + b, 0), `${where} ${side}: outcomes sum to the episodes`).toBe(n);
            expect(success, `${where} ${side}: success rate = successes / episodes`).toBe(outcomes.success / n);
          }
          // The rates are those of the evaluation the run wrote, episode by episode, on the fixed seeds.
          for (const side of ["anchor", "task"] as const) {
            const info = JSON.parse(readFileSync(join(out, row.run_dir!, "eval", side, "eval_info.json"), "utf8"));
            expect(info.per_episode.map((e: { seed: number }) => e.seed)).toEqual(Array.from({ length: n }, (_, i) => EVAL_SEED + i));
            expect(info.per_episode.filter((e: { success: boolean }) => e.success).length / n).toBe(side === "anchor" ? row.anchor_success : row.task_success);
            const gif = readFileSync(join(out, row.gifs![side]!));
            expect(gif.subarray(0, 6).toString("latin1"), `${where} ${side} GIF`).toBe("GIF89a");
          }
          // seconds: the training its metrics.jsonl logged (mean step time × steps per line) and both closed-loop
          // evaluations' eval_s, so a re-run that finds them done reports the same.
          const lines = readFileSync(join(out, row.run_dir!, "metrics.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l) as { step: number; step_time_s?: number });
          let training = 0;
          lines.filter((l) => l.step_time_s !== undefined).forEach((l, i, logged) => (training += l.step_time_s! * (l.step - (i > 0 ? logged[i - 1]!.step : 0))));
          const evalSeconds = ["anchor", "task"].map((side) => JSON.parse(readFileSync(join(out, row.run_dir!, "eval", side, "eval_info.json"), "utf8")).aggregated.eval_s as number);
          expect(training).toBeGreaterThan(0);
          expect(evalSeconds.every((v) => v > 0)).toBe(true);
          expect((row as { seconds?: number }).seconds, `${where} seconds`).toBeCloseTo(training + evalSeconds[0]! + evalSeconds[1]!, 9);
        }
      }
      // ε_end of each CRaFT sweep point is its value (nats of KL); craft_token's is 1.2 × the base's token loss.
      for (const point of pair.sweeps!.craft_epsilon_end!) expect(point.seeds![0]!.epsilon_end).toBe(point.value);
      const token = pair.methods.craft_token!.seeds![0]!;
      expect(token.epsilon_end).toBeCloseTo(1.2 * token.anchor_loss_base!, 9);
      // The base's KL to itself is 0, so every fine-tuning's KL on the anchors is positive.
      for (const [run, result] of runs) expect((result.mean as Means).anchor_kl_final, `${pairName}/${run} KL`).toBeGreaterThan(0);
      // Every pair states each expectation with its measured value and verdict.
      const expectations = summary.expectations!.filter((e) => e.pair === pairName);
      expect(expectations.map((e) => e.name)).toEqual(pair.expectations!.map((e) => e.name));
      expect(expectations.length).toBe(8);
      for (const e of expectations) {
        expect(typeof e.passed).toBe("boolean");
        expect(e.measured === null || Number.isFinite(e.measured), e.name).toBe(true);
      }
    }

    // The losses show the constraint's direction on both pairs: naive moves further from the base on
    // the anchors than CRaFT, and CRaFT's task loss stays near naive's. (Six steps are too few for λ
    // to bring the KL down to ε_end; the quick and full presets measure that.)
    for (const pair of Object.values(summary.pairs!)) {
      const m = (run: string) => pair.methods[run]!.mean as Means;
      expect(m("naive").anchor_kl_final).toBeGreaterThan(m("craft").anchor_kl_final);
      expect(m("craft").task_loss_final).toBeLessThanOrEqual(1.25 * m("naive").task_loss_final);
    }

    // A second evaluation of the same checkpoint on the same episodes reuses eval_info.json.
    const naiveDir = join(out, summary.methods.naive!.seeds![0]!.run_dir!);
    const written = statSync(join(naiveDir, "eval", "anchor", "eval_info.json")).mtimeMs;
    const again = await successStep(naiveDir, { anchor: RETENTION_PAIRS[1]!.anchor.env }, { nEpisodes: n, seed: EVAL_SEED, batchSize: n, imageSize: RETENTION_PRESETS.smoke.imageSize }, join(naiveDir, "eval"));
    expect(statSync(join(naiveDir, "eval", "anchor", "eval_info.json")).mtimeMs).toBe(written);
    expect(again.anchor.aggregated.success_rate).toBe(summary.methods.naive!.seeds![0]!.anchor_success);

    // The report: a Pareto figure of success and of loss per pair, success tables and rollout GIFs per method.
    const { htmlPath, figures } = await writeReport(out);
    const html = readFileSync(htmlPath, "utf8");
    for (const pairName of Object.keys(summary.pairs!)) {
      for (const kind of ["success", "loss"]) {
        const file = join(out, "report", `pareto_${kind}_${pairName}.png`);
        expect(figures).toContain(file);
        expect(readFileSync(file).subarray(1, 4).toString("latin1")).toBe("PNG");
        expect(html).toContain(`id="fig-pareto_${kind}_${pairName}"`);
      }
      expect(html).toContain(`<table class="success" id="success-${pairName}">`);
      const rollouts = html.slice(html.indexOf(`id="rollouts-${pairName}"`), html.indexOf("</table>", html.indexOf(`id="rollouts-${pairName}"`)));
      for (const run of ["base", ...RETENTION_METHODS]) expect(rollouts).toContain(`<tr><td>${run}</td>`);
      expect(rollouts.match(/src="data:image\/gif;base64,/g)?.length).toBe(2 * (1 + RETENTION_METHODS.length));
    }
    const manifest = JSON.parse(readFileSync(join(out, "report", "report.json"), "utf8"));
    expect(manifest.pairs.map((p: { name: string }) => p.name)).toEqual(Object.keys(summary.pairs!));
    // The package's hang guard applies: the smoke preset (2 pairs × a 20-step base and 9 six-step
    // fine-tunings) is sized to take about half a minute on the idle 2-vCPU VM.
  });
});
