import { existsSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { join, relative } from "node:path";
import { pathToFileURL } from "node:url";
import { createRepo, downloadFileToCacheDir, modelInfo, repoExists, snapshotDownload, uploadFiles } from "@huggingface/hub";
import { DatasetError } from "./errors.js";

/**
 * Hugging Face Hub repositories in the Hub's own cache layout (as huggingface_hub and LeRobot use
 * it): `$HF_HUB_CACHE` (default `$HF_HOME/hub`, `~/.cache/huggingface/hub`) holds
 * `{models,datasets}--{org}--{name}/` with `refs/{revision}` (a commit hash) and
 * `snapshots/{commit}/` (the files). Downloads and uploads go through `@huggingface/hub`.
 */
export type HubRepoType = "model" | "dataset";

export const hfHubCache = (env: NodeJS.ProcessEnv = process.env): string =>
  env.HF_HUB_CACHE ?? join(env.HF_HOME ?? join(homedir(), ".cache/huggingface"), "hub");

/** `HF_HUB_OFFLINE=1` (huggingface_hub's switch): never touch the network. */
export const hubOffline = (env: NodeJS.ProcessEnv = process.env): boolean =>
  ["1", "ON", "YES", "TRUE"].includes((env.HF_HUB_OFFLINE ?? "").toUpperCase());

const REPO_ID = /^[A-Za-z0-9][\w.-]*\/[A-Za-z0-9][\w.-]*$/;

/** `org/name` that is not an existing local path: LeRobot reads such a `--policy.path` as a Hub id. */
export const isHubRepoId = (value: string): boolean => REPO_ID.test(value) && !existsSync(value);

/** The cache folder of a repository: `{cache}/{models,datasets}--{org}--{name}`. */
export const hubRepoFolder = (type: HubRepoType, repoId: string, env: NodeJS.ProcessEnv = process.env): string =>
  join(hfHubCache(env), `${type}s--${repoId.split("/").join("--")}`);

/**
 * The cached snapshot of `revision` (a branch or tag through refs/, or a commit hash), if present
 * and, when `files` are named, holding each of them.
 */
export function cachedSnapshot(
  type: HubRepoType,
  repoId: string,
  revision = "main",
  env: NodeJS.ProcessEnv = process.env,
  files: readonly string[] = [],
): string | undefined {
  const folder = hubRepoFolder(type, repoId, env);
  const ref = join(folder, "refs", revision);
  const commit = existsSync(ref) ? readFileSync(ref, "utf8").trim() : /^[0-9a-f]{40}$/.test(revision) ? revision : undefined;
  if (commit === undefined) return undefined;
  const snapshot = join(folder, "snapshots", commit);
  return existsSync(snapshot) && files.every((f) => existsSync(join(snapshot, f))) ? snapshot : undefined;
}

const endpoint = (env: NodeJS.ProcessEnv): string => env.HF_ENDPOINT ?? "https://huggingface.co";
const token = (env: NodeJS.ProcessEnv): string | undefined => env.HF_TOKEN ?? env.HUGGING_FACE_HUB_TOKEN;

export interface ResolveHubOptions {
  readonly type: HubRepoType;
  readonly repoId: string;
  readonly revision?: string;
  /** The flag the id came from, named in errors (e.g. `policy.path`). */
  readonly field: string;
  /**
   * Only these files of the repository (a model repo's tokenizer.json, not its weights), as
   * huggingface_hub's `hf_hub_download` fetches single files; default the whole snapshot.
   */
  readonly files?: readonly string[];
  readonly env?: NodeJS.ProcessEnv;
}

/** `files` of a model repository into the cache at the commit `revision` names (refs/ written as snapshotDownload does). */
async function downloadModelFiles(repoId: string, revision: string, files: readonly string[], env: NodeJS.ProcessEnv): Promise<string> {
  const credentials = { hubUrl: endpoint(env), accessToken: token(env) };
  const { sha } = await modelInfo({ name: repoId, revision, additionalFields: ["sha"], ...credentials });
  const folder = hubRepoFolder("model", repoId, env);
  if (revision !== sha) {
    mkdirSync(join(folder, "refs"), { recursive: true });
    writeFileSync(join(folder, "refs", revision), sha);
  }
  for (const path of files) {
    await downloadFileToCacheDir({ repo: { type: "model", name: repoId }, path, revision: sha, cacheDir: hfHubCache(env), ...credentials });
  }
  return join(folder, "snapshots", sha);
}

/**
 * The local folder of a Hub repository: its cached snapshot, else downloaded into the cache with
 * `@huggingface/hub` unless offline. Offline or failing, one error naming the folder to fill.
 */
export async function resolveHubSnapshot(options: ResolveHubOptions): Promise<string> {
  const env = options.env ?? process.env;
  const revision = options.revision ?? "main";
  const files = options.files ?? [];
  const cached = cachedSnapshot(options.type, options.repoId, revision, env, files);
  if (cached !== undefined) return cached;
  const folder = hubRepoFolder(options.type, options.repoId, env);
  const fill = `${folder}/snapshots/<commit>/${files.length > 0 ? ` (${files.join(", ")})` : ""} with ${folder}/refs/${revision} naming <commit>`;
  if (hubOffline(env)) {
    throw new DatasetError("MissingFile", {
      file: folder,
      field: options.field,
      expected: `${options.type} ${options.repoId}@${revision} in the Hugging Face cache`,
      hint: `HF_HUB_OFFLINE is set, so nothing is downloaded: fill ${fill}, or unset HF_HUB_OFFLINE`,
    });
  }
  // @huggingface/hub announces each file with console.debug (stdout); keep stdout for the command's output.
  const debug = console.debug;
  console.debug = (...args: unknown[]) => void process.stderr.write(`[hub] ${args.join(" ")}\n`);
  try {
    if (files.length > 0 && options.type === "model") return await downloadModelFiles(options.repoId, revision, files, env);
    return await snapshotDownload({
      repo: { type: options.type, name: options.repoId },
      cacheDir: hfHubCache(env),
      revision,
      hubUrl: endpoint(env),
      accessToken: token(env),
    });
  } catch (error) {
    throw new DatasetError("MissingFile", {
      file: folder,
      field: options.field,
      expected: `${options.type} ${options.repoId}@${revision} in the Hugging Face cache`,
      actual: `not cached, and the download from ${endpoint(env)} failed (${(error as Error).message.split("\n")[0]})`,
      hint: `fill ${fill}, or check the network and HF_TOKEN`,
    });
  } finally {
    console.debug = debug;
  }
}

function filesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir)) {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) out.push(...filesUnder(path));
    else if (!entry.startsWith(".")) out.push(path);
  }
  return out;
}

export interface PushToHubOptions {
  /** The folder whose files become the repository's (e.g. a pretrained_model/ folder). */
  readonly folder: string;
  readonly repoId: string;
  readonly type?: HubRepoType;
  readonly private?: boolean;
  readonly commitTitle?: string;
  /** The flag that asked for the upload, named in errors. */
  readonly field?: string;
  readonly env?: NodeJS.ProcessEnv;
}

/** Upload every file of `folder` to the Hub repository (created when missing), with `HF_TOKEN`. */
export async function pushToHub(options: PushToHubOptions): Promise<{ url: string; files: number }> {
  const env = options.env ?? process.env;
  const field = options.field ?? "policy.push_to_hub";
  const type = options.type ?? "model";
  const accessToken = token(env);
  const where = `${type} ${options.repoId} on ${endpoint(env)}`;
  if (hubOffline(env)) {
    throw new DatasetError("InvalidOption", { file: options.folder, field, expected: `network access to upload to ${where}`, actual: "HF_HUB_OFFLINE is set" });
  }
  if (accessToken === undefined || accessToken === "") {
    throw new DatasetError("InvalidOption", { file: options.folder, field, expected: `a Hugging Face write token in HF_TOKEN to upload to ${where}`, actual: "HF_TOKEN is not set" });
  }
  const repo = { type, name: options.repoId };
  const files = filesUnder(options.folder);
  try {
    if (!(await repoExists({ repo, accessToken, hubUrl: endpoint(env) }))) {
      await createRepo({ repo, accessToken, hubUrl: endpoint(env), private: options.private ?? false });
    }
    await uploadFiles({
      repo,
      accessToken,
      hubUrl: endpoint(env),
      commitTitle: options.commitTitle ?? `Upload ${type} with craft-ts`,
      files: files.map((path) => ({ path: relative(options.folder, path), content: pathToFileURL(path) })),
    });
  } catch (error) {
    throw new DatasetError("InvalidOption", {
      file: options.folder,
      field,
      expected: `an upload to ${where}`,
      actual: `it failed (${(error as Error).message.split("\n")[0]})`,
    });
  }
  return { url: `${endpoint(env)}/${type === "dataset" ? "datasets/" : ""}${options.repoId}`, files: files.length };
}
