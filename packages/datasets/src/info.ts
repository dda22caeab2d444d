import { readFileSync, existsSync } from "node:fs";
import { join } from "node:path";
import * as t from "io-ts";
import { isLeft } from "fp-ts/lib/Either.js";
import { DatasetError } from "./errors.js";

const FeatureSpecCodec = t.intersection([
  t.type({ dtype: t.string, shape: t.array(t.number) }),
  t.partial({ names: t.unknown, info: t.unknown }),
]);

/** `meta/info.json`, the fields this package reads (others are kept as they are). */
export const InfoCodec = t.intersection([
  t.type({
    codebase_version: t.string,
    fps: t.number,
    features: t.record(t.string, FeatureSpecCodec),
    data_path: t.string,
  }),
  t.partial({
    robot_type: t.union([t.string, t.null]),
    total_episodes: t.number,
    total_frames: t.number,
    total_tasks: t.number,
    chunks_size: t.number,
    total_chunks: t.number,
    video_path: t.union([t.string, t.null]),
    splits: t.unknown,
    data_files_size_in_mb: t.number,
    video_files_size_in_mb: t.number,
  }),
]);

export type FeatureSpec = t.TypeOf<typeof FeatureSpecCodec>;
export type DatasetInfo = t.TypeOf<typeof InfoCodec>;
export type CodebaseVersion = "v2.1" | "v3.0";
export const SUPPORTED_VERSIONS: readonly CodebaseVersion[] = ["v2.1", "v3.0"];

export const INFO_PATH = "meta/info.json";

/** Columns every LeRobot data file has besides the feature columns. */
export const INDEX_COLUMNS = ["timestamp", "frame_index", "episode_index", "index", "task_index"] as const;

export const isVideoFeature = (spec: FeatureSpec): boolean => spec.dtype === "video";
export const isImageFeature = (spec: FeatureSpec): boolean => spec.dtype === "image";
export const isFloatFeature = (spec: FeatureSpec): boolean =>
  spec.dtype === "float32" || spec.dtype === "float64" || spec.dtype === "float16";

const describeErrors = (errors: t.Errors): { field: string; expected: string; actual: string } => {
  const first = errors[0];
  if (first === undefined) return { field: "(root)", expected: "a valid info.json", actual: "?" };
  const field = first.context.map((c) => c.key).filter((k) => k !== "" && !/^\d+$/.test(k)).join(".") || "(root)";
  const expected = first.context[first.context.length - 1]?.type.name ?? "?";
  return { field, expected, actual: JSON.stringify(first.value) ?? "undefined" };
};

/** Read and validate `meta/info.json` under a dataset root. */
export const readInfo = (root: string): { info: DatasetInfo; version: CodebaseVersion } => {
  const file = join(root, INFO_PATH);
  if (!existsSync(file)) {
    throw new DatasetError("MissingFile", {
      file,
      field: "meta/info.json",
      expected: "a LeRobot dataset root containing meta/info.json",
      hint: existsSync(root) ? "the directory exists but has no meta/info.json" : "the directory does not exist",
    });
  }
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, "utf8"));
  } catch (e) {
    throw new DatasetError("InvalidJson", { file, field: "(root)", expected: "valid JSON", actual: String((e as Error).message) });
  }
  const version = (raw as { codebase_version?: unknown } | null)?.codebase_version;
  if (typeof version !== "string" || !(SUPPORTED_VERSIONS as readonly string[]).includes(version)) {
    throw new DatasetError("UnknownVersion", {
      file,
      field: "codebase_version",
      expected: `one of ${SUPPORTED_VERSIONS.join(", ")}`,
      actual: JSON.stringify(version),
    });
  }
  const decoded = InfoCodec.decode(raw);
  if (isLeft(decoded)) {
    const d = describeErrors(decoded.left);
    throw new DatasetError("InvalidInfo", { file, field: d.field, expected: d.expected, actual: d.actual });
  }
  return { info: decoded.right, version: version as CodebaseVersion };
};

/**
 * Fill a path template the way Python's str.format does for the specs LeRobot uses
 * (`{chunk_index:03d}`, `{video_key}`).
 */
export const formatTemplate = (template: string, values: Readonly<Record<string, string | number>>): string =>
  template.replace(/\{(\w+)(?::(0?)(\d+)d)?\}/g, (whole, name: string, zero: string, width: string | undefined) => {
    const v = values[name];
    if (v === undefined) throw new Error(`template ${template} uses {${name}} but no value was given`);
    const s = String(v);
    return width === undefined ? s : s.padStart(Number(width), zero === "0" ? "0" : " ");
  });
