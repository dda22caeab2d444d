import { readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { PNG } from "pngjs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { writeReport, ReportError } from "../src/report/index";
import {
  makeExperimentDir,
  makeRunDir,
  makeTmpDir,
  syntheticMetrics,
  toJsonl,
} from "./fixtures/report/makeFixtures";

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/** Checks the file is a real, non-blank PNG: signature, IHDR size, decodes, many colours, ink on the page. */
async function expectReadablePng(path: string) {
  const bytes = await readFile(path);
  expect(bytes.subarray(0, 8).equals(PNG_SIGNATURE)).toBe(true);
  expect(bytes.subarray(12, 16).toString("ascii")).toBe("IHDR");
  const width = bytes.readUInt32BE(16);
  const height = bytes.readUInt32BE(20);
  expect(width).toBeGreaterThan(300);
  expect(height).toBeGreaterThan(200);
  const png = PNG.sync.read(bytes);
  expect([png.width, png.height]).toEqual([width, height]);
  const colours = new Set<number>();
  let ink = 0;
  for (let i = 0; i < png.data.length; i += 4) {
    const [r, g, b] = [png.data[i], png.data[i + 1], png.data[i + 2]];
    colours.add((r << 16) | (g << 8) | b);
    if (r < 200 || g < 200 || b < 200) ink++;
  }
  expect(colours.size).toBeGreaterThan(50);
  const inkShare = ink / (png.width * png.height);
  expect(inkShare).toBeGreaterThan(0.01);
  expect(inkShare).toBeLessThan(0.6);
  return { width, height };
}

let root: string;
beforeAll(async () => {
  root = await makeTmpDir("test");
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe("report for a single training run", () => {
  let runDir: string;
  let result: Awaited<ReturnType<typeof writeReport>>;
  beforeAll(async () => {
    runDir = await makeRunDir(root);
    result = await writeReport(runDir);
  });

  it("writes index.html, report.json and the four run figures into <run>/report", async () => {
    expect(result.htmlPath).toBe(join(runDir, "report", "index.html"));
    expect(result.figures.map((f) => f.slice(join(runDir, "report").length + 1))).toEqual([
      "loss.png",
      "lambda_epsilon.png",
      "conflict_cosine.png",
      "grad_norms.png",
    ]);
    const manifest = JSON.parse(await readFile(join(runDir, "report", "report.json"), "utf8"));
    expect(manifest.kind).toBe("run");
    expect(manifest.html).toBe("index.html");
    expect(manifest.figures.map((f: { file: string }) => f.file)).toEqual([
      "loss.png",
      "lambda_epsilon.png",
      "conflict_cosine.png",
      "grad_norms.png",
    ]);
  });

  it("every figure is a readable, non-blank PNG", async () => {
    for (const figure of result.figures) await expectReadablePng(figure);
  });

  it("embeds each figure as a data URI and links the PNG file next to it", async () => {
    const html = await readFile(result.htmlPath, "utf8");
    for (const figure of result.figures) {
      const file = figure.split("/").pop()!;
      const base64 = (await readFile(figure)).toString("base64");
      expect(html).toContain(`<img src="data:image/png;base64,${base64}"`);
      expect(html).toContain(`href="${file}"`);
    }
  });

  it("shows last values, the collapsed config and the checkpoints", async () => {
    const html = await readFile(result.htmlPath, "utf8");
    const rows = syntheticMetrics({ steps: 200, logFreq: 5, craft: true, seed: 0, forgetting: 0.1 });
    const last = rows[rows.length - 1];
    expect(html).toContain(`<tr><td>epsilon</td><td>${(last.epsilon as number).toPrecision(4)}</td><td>200</td>`);
    expect(html).toContain("<details><summary>train_config.json</summary>");
    expect(html).toContain("&quot;surgery&quot;: &quot;project_task&quot;");
    expect(html).toMatch(/<code>000100<\/code>/);
    expect(html).toMatch(/<code>last<\/code> → 000200/);
    expect(html).toContain("model.safetensors, 0.00 MB");
  });

  it("uses the given title", async () => {
    const r = await writeReport(runDir, { title: "My <run>" });
    const html = await readFile(r.htmlPath, "utf8");
    expect(html).toContain("<title>My &lt;run&gt;</title>");
  });
});

describe("report for a baseline run with missing series", () => {
  it("draws what was logged, skips the rest with a note, and tolerates a torn last line", async () => {
    const dir = join(root, "baseline");
    const { mkdir } = await import("node:fs/promises");
    await mkdir(dir, { recursive: true });
    const rows = syntheticMetrics({ steps: 100, logFreq: 10, craft: false, seed: 3, forgetting: 0 });
    rows[2].loss = null;
    for (const row of rows) delete row.task_loss; // an older log without the key at all
    await writeFile(join(dir, "metrics.jsonl"), toJsonl(rows) + '{"step": 110, "lo');
    const result = await writeReport(dir);
    expect(result.figures.map((f) => f.split("/").pop())).toEqual(["loss.png", "grad_norms.png"]);
    for (const figure of result.figures) await expectReadablePng(figure);
    const html = await readFile(result.htmlPath, "utf8");
    expect(html).toContain("lambda_epsilon.png not drawn: no lambda or epsilon logged");
    expect(html).toContain("conflict_cosine.png not drawn");
    expect(html).toContain("No train_config.json in the run directory.");
    expect(html).toContain("No checkpoints/ directory.");
    expect(html).toContain("10 log rows, steps 10–100");
    expect(html).not.toContain("<td>retention_loss</td>");
    expect(html).not.toContain("<td>task_loss</td>");
    expect(html).toContain("<tr><td>loss</td>");
  });

  it("removes a figure left by an earlier report that this one no longer draws", async () => {
    const dir = await makeRunDir(root, "shrinking");
    await writeReport(dir);
    const rows = syntheticMetrics({ steps: 50, logFreq: 5, craft: false, seed: 1, forgetting: 0 });
    await writeFile(join(dir, "metrics.jsonl"), toJsonl(rows));
    const result = await writeReport(dir);
    const { readdir } = await import("node:fs/promises");
    const pngs = (await readdir(join(dir, "report"))).filter((f) => f.endsWith(".png")).sort();
    expect(pngs).toEqual(["grad_norms.png", "loss.png"]);
    expect(result.figures).toHaveLength(2);
  });
});

describe("report for a retention experiment", () => {
  let dir: string;
  let result: Awaited<ReturnType<typeof writeReport>>;
  let html: string;
  beforeAll(async () => {
    dir = await makeExperimentDir(join(root, "exp-a"), { expectations: true });
    result = await writeReport(dir);
    html = await readFile(result.htmlPath, "utf8");
  });

  it("writes all five figures as readable PNGs and lists them in report.json", async () => {
    const files = result.figures.map((f) => f.split("/").pop());
    expect(files).toEqual(["loss.png", "lambda_epsilon.png", "conflict_cosine.png", "grad_norms.png", "anchor_rise.png"]);
    for (const figure of result.figures) await expectReadablePng(figure);
    const manifest = JSON.parse(await readFile(join(dir, "report", "report.json"), "utf8"));
    expect(manifest.kind).toBe("experiment");
    expect(manifest.figures.map((f: { file: string }) => f.file)).toEqual(files);
  });

  it("tabulates mean ± std per method in method order, with the relative anchor-loss rise", () => {
    const table = html.slice(html.indexOf('<table id="comparison">'), html.indexOf("</table>", html.indexOf('<table id="comparison">')));
    const methodOrder = [...table.matchAll(/<tr><td>([a-z_]+)<\/td>/g)].map((m) => m[1]);
    expect(methodOrder).toEqual(["naive", "replay", "craft_no_surgery", "craft"]);
    // naive: finals 0.48, 0.52 → 0.5 ± 0.02828; rises 1.4, 1.6 → +150.0% ± 14.1%
    expect(table).toContain("<td>0.5000 ± 0.02828</td>");
    expect(table).toContain("<td>+150.0% ± 14.1%</td>");
    // craft: finals 0.26, 0.27 → 0.265 ± 0.007071; rises 0.3, 0.35 → +32.5% ± 3.5%
    expect(table).toContain("<td>0.2650 ± 0.007071</td>");
    expect(table).toContain("<td>+32.5% ± 3.5%</td>");
    // ε_end: null for naive → dash; 0.25 ± 0 for craft
    expect(table).toContain("<td>0.2500 ± 0</td>");
    expect(table).toMatch(/<tr><td>naive<\/td><td>2<\/td>(<td>[^<]*<\/td>){5}<td>–<\/td>/);
  });

  it("reports the experiment's own expectation verdicts, failures included", () => {
    expect(html).toContain("Expectations: 2 of 3 passed");
    expect(html).toContain("as recorded by the experiment in summary.json");
    expect(html).toContain('<td>craft task loss within 25% of naive</td><td class="fail">✘ failed</td><td>0.36 &gt; 0.3875</td>');
    expect(html).toContain('<td>naive doubles anchor loss</td><td class="pass">✔ passed</td>');
  });

  it("finds a run through the summary's run_dir and notes seeds with no metrics", () => {
    expect(html).toContain("replay seed 0: no metrics.jsonl at");
    expect(html).not.toContain("craft seed 1: no metrics.jsonl");
    expect(html).toContain("<td>custom/craft-seed-1</td>");
    expect(html).toContain("<details><summary>configs (from summary.json)</summary>");
  });

  it("checks the issue's three expectations itself when the summary records none", async () => {
    const dirB = await makeExperimentDir(join(root, "exp-b"), { expectations: false });
    const summaryPath = join(dirB, "summary.json");
    const summary = JSON.parse(await readFile(summaryPath, "utf8"));
    summary.methods.craft.mean.anchor_loss_final = 0.4;
    await writeFile(summaryPath, JSON.stringify(summary));
    const r = await writeReport(dirB);
    const page = await readFile(r.htmlPath, "utf8");
    expect(page).toContain("checked by the report on the means above");
    expect(page).toContain("Expectations: 2 of 3 passed");
    expect(page).toMatch(/naive fine-tuning at least doubles the anchor loss<\/td><td class="pass">/);
    expect(page).toMatch(/within 10% of ε_end \(or below it\)<\/td><td class="fail">✘ failed<\/td><td>anchor loss 0.4000 vs ε_end 0.2500 \(limit 0.2750\)/);
    expect(page).toMatch(/within 25% of naive&#39;s<\/td><td class="pass">/);
  });
});

describe("errors", () => {
  it("a directory with neither metrics.jsonl nor summary.json names both expected files", async () => {
    const dir = await makeTmpDir("empty");
    const error = await writeReport(dir).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ReportError);
    expect((error as ReportError).issue._tag).toBe("UnknownDirectoryKind");
    expect((error as Error).message).toContain(dir);
    expect((error as Error).message).toContain('"metrics.jsonl (a training run)"');
    expect((error as Error).message).toContain('"summary.json (an experiment)"');
    await rm(dir, { recursive: true, force: true });
  });

  it("a path that is not a directory says so", async () => {
    await expect(writeReport(join(root, "does-not-exist"))).rejects.toThrow(/is not a directory/);
  });

  it("a malformed metrics line names the file and line", async () => {
    const dir = join(root, "bad-json");
    const { mkdir } = await import("node:fs/promises");
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, "metrics.jsonl"), '{"step": 1, "loss": 1}\n{oops\n{"step": 3, "loss": 1}\n');
    await expect(writeReport(dir)).rejects.toThrow(`${join(dir, "metrics.jsonl")}:2 is not valid JSON`);
  });

  it("a metric of the wrong type names the field and the expected value", async () => {
    const dir = join(root, "bad-field");
    const { mkdir } = await import("node:fs/promises");
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, "metrics.jsonl"), '{"step": 1, "loss": 1}\n{"step": 2, "lambda": true}\n');
    await expect(writeReport(dir)).rejects.toThrow(
      `${join(dir, "metrics.jsonl")}:2: field "lambda" expected a number, null or "NaN", got boolean true`,
    );
  });

  it("an invalid summary.json names the field path", async () => {
    const dir = join(root, "bad-summary");
    const { mkdir } = await import("node:fs/promises");
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, "summary.json"), JSON.stringify({ methods: { naive: { seeds: [{ seed: "zero" }] } } }));
    await expect(writeReport(dir)).rejects.toThrow(/summary\.json: field "methods\.naive\.seeds\.0\.seed" expected number, got string zero/);
  });
});
