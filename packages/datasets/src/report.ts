import { existsSync, readdirSync } from "node:fs";
import { basename, join, relative, sep } from "node:path";
import type { LeRobotDataset } from "./dataset.js";
import { isDatasetError } from "./errors.js";
import { selectEpisodes } from "./episodes.js";
import { readDatasetMeta } from "./metadata.js";
import { parquetFooterProblem } from "./parquet.js";
import { hasFfmpeg, probeVideo } from "./video.js";

export interface DatasetInfoOptions {
  /** Report (and check the files of) only these episodes, as `openDataset`'s option. */
  readonly episodes?: readonly number[];
  /** Feature keys left out: their videos are neither listed nor checked. */
  readonly exclude?: readonly string[];
}

/** The info.json template a referenced file's path comes from. */
type Template = "meta" | "data_path" | "video_path";

interface Referenced {
  readonly what: string;
  readonly template: Template;
}

type FileState =
  | { readonly kind: "ok" }
  | { readonly kind: "missing"; readonly foundAt: string | undefined }
  | { readonly kind: "corrupt"; readonly why: string }
  | { readonly kind: "unchecked"; readonly why: string };

/** Files under `root` by base name (hidden directories skipped), built once per report. */
const filesByName = (root: string): Map<string, string[]> => {
  const index = new Map<string, string[]>();
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      if (entry.name.startsWith(".")) continue;
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.isFile()) index.set(entry.name, [...(index.get(entry.name) ?? []), path]);
    }
  };
  walk(root);
  return index;
};

/**
 * Where a missing file is, if a file of that name exists elsewhere under the root: of several
 * candidates (v3.0 names every file `file-000.mp4`), the one sharing the longest tail of path
 * components with the expected path (files the metadata references elsewhere excluded), e.g. `video/<key>/chunk-000/file-000.mp4` for
 * `videos/<key>/chunk-000/file-000.mp4`.
 */
const misplacedAt = (expected: string, root: string, index: Map<string, string[]>, referenced: ReadonlyMap<string, unknown>): string | undefined => {
  const want = relative(root, expected).split(sep).reverse();
  let best: { path: string; shared: number } | undefined;
  for (const candidate of index.get(basename(expected)) ?? []) {
    // A file the metadata references for something else (meta/episodes/…/file-000.parquet) is not it.
    if (referenced.has(candidate)) continue;
    const have = relative(root, candidate).split(sep).reverse();
    let shared = 0;
    while (shared < Math.min(want.length, have.length) && want[shared] === have[shared]) shared++;
    if (best === undefined || shared > best.shared) best = { path: candidate, shared };
  }
  return best?.path;
};

const checkFile = (file: string, ref: Referenced, root: string, index: () => Map<string, string[]>, referenced: ReadonlyMap<string, Referenced>): FileState => {
  if (!existsSync(file)) return { kind: "missing", foundAt: misplacedAt(file, root, index(), referenced) };
  if (file.endsWith(".parquet")) {
    const why = parquetFooterProblem(file);
    return why === null ? { kind: "ok" } : { kind: "corrupt", why };
  }
  if (ref.template === "video_path") {
    if (!hasFfmpeg()) return { kind: "unchecked", why: "ffprobe not on PATH, readability not checked" };
    try {
      probeVideo(file, ref.what);
      return { kind: "ok" };
    } catch (e) {
      if (isDatasetError(e)) return { kind: "corrupt", why: e.actual ?? e.expected };
      throw e;
    }
  }
  return { kind: "ok" };
};

/**
 * The text `craft dataset info` prints: version, fps, episodes, frames, features with shapes,
 * tasks, and the state of every file the (selected episodes') metadata references: present, a
 * Parquet footer that decodes, a video ffprobe can read. A missing file found elsewhere under the
 * root is reported with where it is and the info.json template that disagrees. Reads metadata
 * only, so it works on datasets whose videos are missing.
 */
export const datasetInfoReport = async (dataset: LeRobotDataset | string, options: DatasetInfoOptions = {}): Promise<string> => {
  const root = typeof dataset === "string" ? dataset : dataset.root;
  const meta = readDatasetMeta(root);
  const episodes =
    typeof dataset !== "string" && options.episodes === undefined
      ? selectEpisodes(meta, dataset.episodes.map((e) => e.episodeIndex))
      : selectEpisodes(meta, options.episodes);
  const exclude = new Set(options.exclude ?? (typeof dataset === "string" ? [] : Object.keys(meta.info.features).filter((k) => dataset.features[k] === undefined)));
  const lines: string[] = [];
  const frames = episodes.reduce((a, e) => a + e.length, 0);
  const all = episodes.length === meta.episodes.length;
  lines.push(`dataset:   ${root}`);
  lines.push(`version:   ${meta.version}`);
  lines.push(`robot:     ${meta.info.robot_type ?? "(unknown)"}`);
  lines.push(`fps:       ${meta.fps}`);
  lines.push(`episodes:  ${episodes.length}${all ? "" : ` selected of ${meta.episodes.length}`}`);
  const stated = meta.info.total_frames;
  lines.push(`frames:    ${frames}${all && stated !== undefined && stated !== frames ? ` (info.json says ${stated})` : ""}`);
  lines.push(`lengths:   ${episodes.map((e) => `${e.episodeIndex}:${e.length}`).join(" ")}`);
  lines.push("features:");
  const width = Math.max(...Object.keys(meta.info.features).map((k) => k.length));
  for (const [k, s] of Object.entries(meta.info.features)) {
    const note = exclude.has(k) ? "  (excluded)" : meta.stats[k] !== undefined ? "  (stats)" : "";
    lines.push(`  ${k.padEnd(width)}  ${s.dtype.padEnd(8)} [${s.shape.join(", ")}]${note}`);
  }
  lines.push(`tasks (${meta.tasks.length}):`);
  meta.tasks.forEach((t, i) => lines.push(`  ${i}: ${t}`));

  const referenced = new Map<string, Referenced>();
  for (const f of meta.metaFiles) referenced.set(f, { what: "meta", template: "meta" });
  for (const e of episodes) {
    referenced.set(e.dataFile, { what: "data", template: "data_path" });
    for (const [k, v] of Object.entries(e.videos)) if (!exclude.has(k)) referenced.set(v.file, { what: k, template: "video_path" });
  }
  let index: Map<string, string[]> | undefined;
  const lazyIndex = () => (index ??= filesByName(root));
  const counts = { missing: 0, corrupt: 0, unchecked: 0 };
  const misplaced = new Map<Template, { expected: string; found: string }>();
  lines.push("files:");
  for (const [file, ref] of referenced) {
    const state = checkFile(file, ref, root, lazyIndex, referenced);
    const rel = relative(root, file);
    if (state.kind === "ok") lines.push(`  ok      ${rel}  (${ref.what})`);
    else if (state.kind === "corrupt") {
      counts.corrupt++;
      lines.push(`  CORRUPT ${rel}  (${ref.what}): ${state.why}`);
    } else if (state.kind === "unchecked") {
      counts.unchecked++;
      lines.push(`  present ${rel}  (${ref.what}): ${state.why}`);
    } else {
      counts.missing++;
      const found = state.foundAt === undefined ? "" : ` — found at ${relative(root, state.foundAt)}`;
      lines.push(`  MISSING ${rel}  (${ref.what})${found}`);
      if (state.foundAt !== undefined && !misplaced.has(ref.template)) misplaced.set(ref.template, { expected: rel, found: relative(root, state.foundAt) });
    }
  }
  if (counts.missing === 0 && counts.corrupt === 0) {
    lines.push(counts.unchecked === 0 ? "all referenced files exist and read" : `all referenced files exist; ${counts.unchecked} video(s) not probed (no ffprobe)`);
  }
  if (counts.missing > 0) lines.push(`${counts.missing} referenced file(s) missing`);
  if (counts.corrupt > 0) lines.push(`${counts.corrupt} referenced file(s) corrupt or truncated`);
  for (const [template, { expected, found }] of misplaced) {
    const value = template === "meta" ? "" : ` ${JSON.stringify(meta.info[template])}`;
    lines.push(
      template === "meta"
        ? `meta/${basename(expected)} is at ${found}, not where LeRobot's layout puts it (${expected})`
        : `info.json ${template}${value} disagrees with where the files are: expected ${expected}, found ${found}`,
    );
  }
  return lines.join("\n");
};
