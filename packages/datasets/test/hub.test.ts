import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { cachedSnapshot, hfHubCache, hubRepoFolder, isHubRepoId, pushToHub, resolveHubSnapshot } from "../src/hub.js";
import { fetchDatasetRoot, resolveDatasetRoot } from "../src/resolve.js";

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
const tmp = () => {
  const d = mkdtempSync(join(tmpdir(), "hf-cache-"));
  dirs.push(d);
  return d;
};

const COMMIT = "0123456789abcdef0123456789abcdef01234567";

/** A Hugging Face cache as huggingface_hub lays it out: refs/main → snapshots/<commit>/. */
function fakeCache(type: "models" | "datasets", repoId: string): { cache: string; snapshot: string } {
  const cache = tmp();
  const folder = join(cache, `${type}--${repoId.replace("/", "--")}`);
  mkdirSync(join(folder, "refs"), { recursive: true });
  mkdirSync(join(folder, "snapshots", COMMIT), { recursive: true });
  writeFileSync(join(folder, "refs", "main"), COMMIT);
  writeFileSync(join(folder, "snapshots", COMMIT, "config.json"), "{}");
  return { cache, snapshot: join(folder, "snapshots", COMMIT) };
}

/** A port nothing listens on (bound, then closed): downloads there fail at once. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

describe("Hugging Face cache layout", () => {
  it("finds the cache from HF_HUB_CACHE, else HF_HOME/hub", () => {
    expect(hfHubCache({ HF_HUB_CACHE: "/a/hub", HF_HOME: "/b" })).toBe("/a/hub");
    expect(hfHubCache({ HF_HOME: "/b" })).toBe("/b/hub");
    expect(hubRepoFolder("model", "lerobot/pi0fast-base", { HF_HOME: "/b" })).toBe("/b/hub/models--lerobot--pi0fast-base");
    expect(hubRepoFolder("dataset", "lerobot/so101", { HF_HOME: "/b" })).toBe("/b/hub/datasets--lerobot--so101");
  });

  it("resolves a model id through refs/main to its snapshot, and a commit hash directly", async () => {
    const { cache, snapshot } = fakeCache("models", "lerobot/pi0fast-base");
    const env = { HF_HUB_CACHE: cache, HF_HUB_OFFLINE: "1" };
    expect(cachedSnapshot("model", "lerobot/pi0fast-base", "main", env)).toBe(snapshot);
    expect(cachedSnapshot("model", "lerobot/pi0fast-base", COMMIT, env)).toBe(snapshot);
    expect(cachedSnapshot("model", "lerobot/pi0fast-base", "v2", env)).toBeUndefined();
    await expect(resolveHubSnapshot({ type: "model", repoId: "lerobot/pi0fast-base", field: "policy.path", env })).resolves.toBe(snapshot);
  });

  it("with named files, a snapshot lacking one of them is not cached, and the error names the files to fill", async () => {
    const { cache, snapshot } = fakeCache("models", "google/paligemma-3b-pt-224");
    const env = { HF_HUB_CACHE: cache, HF_HUB_OFFLINE: "1" };
    expect(cachedSnapshot("model", "google/paligemma-3b-pt-224", "main", env, ["config.json"])).toBe(snapshot);
    expect(cachedSnapshot("model", "google/paligemma-3b-pt-224", "main", env, ["config.json", "tokenizer.json"])).toBeUndefined();
    const folder = join(cache, "models--google--paligemma-3b-pt-224");
    await expect(resolveHubSnapshot({ type: "model", repoId: "google/paligemma-3b-pt-224", field: "text_tokenizer_name", files: ["tokenizer.json"], env })).rejects.toThrow(
      `fill ${folder}/snapshots/<commit>/ (tokenizer.json) with ${folder}/refs/main naming <commit>`,
    );
    writeFileSync(join(snapshot, "tokenizer.json"), "{}");
    await expect(resolveHubSnapshot({ type: "model", repoId: "google/paligemma-3b-pt-224", field: "text_tokenizer_name", files: ["tokenizer.json"], env })).resolves.toBe(snapshot);
  });

  it("reads ORG/NAME as a Hub id only when no such local path exists", () => {
    expect(isHubRepoId("lerobot/pi0fast-base")).toBe(true);
    expect(isHubRepoId("./lerobot/pi0fast-base")).toBe(false);
    expect(isHubRepoId("/abs/path")).toBe(false);
    expect(isHubRepoId("a/b/c")).toBe(false);
  });

  it("offline and not cached: one error naming the folder to fill", async () => {
    const cache = tmp();
    const env = { HF_HUB_CACHE: cache, HF_HUB_OFFLINE: "1" };
    const folder = join(cache, "models--lerobot--pi0fast-base");
    const error = await resolveHubSnapshot({ type: "model", repoId: "lerobot/pi0fast-base", field: "policy.path", env }).catch((e: Error) => e);
    expect((error as Error).message).toBe(
      `MissingFile: ${folder}: field "policy.path": expected model lerobot/pi0fast-base@main in the Hugging Face cache (HF_HUB_OFFLINE is set, so nothing is downloaded: fill ${folder}/snapshots/<commit>/ with ${folder}/refs/main naming <commit>, or unset HF_HUB_OFFLINE)`,
    );
    expect((error as Error).message.split("\n")).toHaveLength(1);
  });

  it("online but unreachable: one error naming the folder and the endpoint", async () => {
    const cache = tmp();
    const hub = `http://127.0.0.1:${await closedPort()}`;
    const env = { HF_HUB_CACHE: cache, HF_ENDPOINT: hub };
    const error = (await resolveHubSnapshot({ type: "model", repoId: "lerobot/pi0fast-base", field: "policy.path", env }).catch((e: Error) => e)) as Error;
    expect(error.message).toMatch(new RegExp(`^MissingFile: ${join(cache, "models--lerobot--pi0fast-base")}: field "policy.path": .*the download from ${hub} failed`));
    expect(error.message.split("\n")).toHaveLength(1);
  });

  it("datasets: $HF_LEROBOT_HOME/<repo_id> first, then the Hub cache's snapshot", async () => {
    const { cache, snapshot } = fakeCache("datasets", "lerobot/so101");
    const env = { HF_HUB_CACHE: cache, HF_LEROBOT_HOME: join(cache, "none"), HF_HUB_OFFLINE: "1" };
    expect(resolveDatasetRoot({ repoId: "lerobot/so101" }, env)).toBe(snapshot);
    await expect(fetchDatasetRoot({ repoId: "lerobot/so101" }, env)).resolves.toBe(snapshot);
    mkdirSync(join(cache, "none", "lerobot", "so101"), { recursive: true });
    expect(resolveDatasetRoot({ repoId: "lerobot/so101" }, env)).toBe(join(cache, "none", "lerobot", "so101"));
    await expect(fetchDatasetRoot({ repoId: "lerobot/other" }, env)).rejects.toThrow(`${join(cache, "datasets--lerobot--other")}: field "dataset.repo_id"`);
  });

  it("push_to_hub without a token or offline: one clear line, nothing sent", async () => {
    const folder = tmp();
    writeFileSync(join(folder, "config.json"), "{}");
    await expect(pushToHub({ folder, repoId: "me/policy", env: {} })).rejects.toThrow(
      `InvalidOption: ${folder}: field "policy.push_to_hub": expected a Hugging Face write token in HF_TOKEN to upload to model me/policy on https://huggingface.co, found HF_TOKEN is not set`,
    );
    await expect(pushToHub({ folder, repoId: "me/policy", env: { HF_TOKEN: "x", HF_HUB_OFFLINE: "1" } })).rejects.toThrow("found HF_HUB_OFFLINE is set");
  });
});
