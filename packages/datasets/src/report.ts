import { existsSync } from "node:fs";
import { relative } from "node:path";
import type { LeRobotDataset } from "./dataset.js";
import { readDatasetMeta } from "./metadata.js";

/**
 * The text `craft dataset info` prints: version, fps, episodes, frames, features with shapes,
 * tasks, and whether each referenced file exists. Reads only metadata, so it works on datasets
 * whose videos are missing.
 */
export const datasetInfoReport = async (dataset: LeRobotDataset | string): Promise<string> => {
  const root = typeof dataset === "string" ? dataset : dataset.root;
  const meta = readDatasetMeta(root);
  const lines: string[] = [];
  const frames = meta.episodes.reduce((a, e) => a + e.length, 0);
  lines.push(`dataset:   ${root}`);
  lines.push(`version:   ${meta.version}`);
  lines.push(`robot:     ${meta.info.robot_type ?? "(unknown)"}`);
  lines.push(`fps:       ${meta.fps}`);
  lines.push(`episodes:  ${meta.episodes.length}`);
  lines.push(`frames:    ${frames}${meta.info.total_frames !== undefined && meta.info.total_frames !== frames ? ` (info.json says ${meta.info.total_frames})` : ""}`);
  lines.push(`lengths:   ${meta.episodes.map((e) => `${e.episodeIndex}:${e.length}`).join(" ")}`);
  lines.push("features:");
  const width = Math.max(...Object.keys(meta.info.features).map((k) => k.length));
  for (const [k, s] of Object.entries(meta.info.features)) {
    lines.push(`  ${k.padEnd(width)}  ${s.dtype.padEnd(8)} [${s.shape.join(", ")}]${meta.stats[k] !== undefined ? "  (stats)" : ""}`);
  }
  lines.push(`tasks (${meta.tasks.length}):`);
  meta.tasks.forEach((t, i) => lines.push(`  ${i}: ${t}`));
  const referenced = new Map<string, string>();
  for (const f of meta.metaFiles) referenced.set(f, "meta");
  for (const e of meta.episodes) {
    referenced.set(e.dataFile, "data");
    for (const [k, v] of Object.entries(e.videos)) referenced.set(v.file, k);
  }
  let missing = 0;
  lines.push("files:");
  for (const [file, what] of referenced) {
    const ok = existsSync(file);
    if (!ok) missing++;
    lines.push(`  ${ok ? "ok     " : "MISSING"} ${relative(root, file)}  (${what})`);
  }
  lines.push(missing === 0 ? "all referenced files exist" : `${missing} referenced file(s) missing`);
  return lines.join("\n");
};
