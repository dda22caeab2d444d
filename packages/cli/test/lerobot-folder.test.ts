import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { gemmaLikeJson } from "../../policy-pi0fast/test/gemma-like-tokenizer";
import { FAKE_HUB_COMMIT, fakeHub, filesUnder } from "./fake-hub.js";
import { craft, MICRO_POLICY, syntheticPair, tempDir } from "./helpers.js";

/**
 * `--policy.path` at a pretrained_model/ as LeRobot writes it (no tokenizers inside: config.json
 * names them), `--rename_map` in eval, and `--policy.push_to_hub` against a local Hub.
 */
const ENV_KEYS = ["HF_HUB_CACHE", "HF_HUB_OFFLINE", "HF_TOKEN", "HF_ENDPOINT"];
const saved = Object.fromEntries(ENV_KEYS.map((k) => [k, process.env[k]]));
afterEach(() => {
  for (const k of ENV_KEYS) {
    if (saved[k] === undefined) delete process.env[k];
    else process.env[k] = saved[k];
  }
});
const dirs: string[] = [];
const tmp = (prefix: string) => {
  const d = tempDir(prefix);
  dirs.push(d);
  return d;
};
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

const readJson = (path: string) => JSON.parse(readFileSync(path, "utf8"));

/** A Hugging Face cache holding `repos` (id → files to copy in) at FAKE_HUB_COMMIT, refs/main naming it. */
function hubCache(repos: Readonly<Record<string, Readonly<Record<string, string>>>>): string {
  const cache = tmp("hf-cache");
  for (const [id, files] of Object.entries(repos)) {
    const repo = join(cache, `models--${id.replace("/", "--")}`);
    mkdirSync(join(repo, "snapshots", FAKE_HUB_COMMIT), { recursive: true });
    mkdirSync(join(repo, "refs"));
    writeFileSync(join(repo, "refs", "main"), FAKE_HUB_COMMIT);
    for (const [name, from] of Object.entries(files)) cpSync(from, join(repo, "snapshots", FAKE_HUB_COMMIT, name));
  }
  return cache;
}

let data: { reach: string; push: string };
/** A craft folder whose text tokenizer is a Gemma-shaped tokenizer.json, and the same policy as LeRobot would write it. */
let craftFolder: string;
let lerobotFolder: string;
let textTokenizer: string;
let cache: string;

beforeAll(async () => {
  data = await syntheticPair();
  dirs.push(join(data.reach, ".."));
  const run = join(tmp("base"), "run");
  const r = await craft(["train", ...MICRO_POLICY, `--dataset.root=${data.reach}`, "--batch_size=4", "--steps=1", `--output_dir=${run}`]);
  expect(r.code, r.stderr).toBe(0);
  craftFolder = join(run, "checkpoints", "last", "pretrained_model");
  textTokenizer = join(tmp("text"), "tokenizer.json");
  writeFileSync(textTokenizer, JSON.stringify(gemmaLikeJson()));
  cpSync(textTokenizer, join(craftFolder, "tokenizer.json"));
  const sidecar = readJson(join(craftFolder, "craft_config.json"));
  writeFileSync(join(craftFolder, "craft_config.json"), JSON.stringify({ ...sidecar, files: { ...sidecar.files, text_tokenizer: "tokenizer.json" } }));

  lerobotFolder = join(tmp("lerobot"), "pretrained_model");
  cpSync(craftFolder, lerobotFolder, { recursive: true });
  rmSync(join(lerobotFolder, "action_tokenizer"), { recursive: true });
  rmSync(join(lerobotFolder, "tokenizer.json"));
  const { files: _, ...lerobotSidecar } = readJson(join(lerobotFolder, "craft_config.json"));
  writeFileSync(join(lerobotFolder, "craft_config.json"), JSON.stringify(lerobotSidecar));
  const config = readJson(join(lerobotFolder, "config.json"));
  expect([config.action_tokenizer_name, config.text_tokenizer_name]).toEqual(["lerobot/fast-action-tokenizer", "google/paligemma-3b-pt-224"]);
  cache = hubCache({
    "lerobot/fast-action-tokenizer": {
      "processor_config.json": join(craftFolder, "action_tokenizer", "processor_config.json"),
      "tokenizer.json": join(craftFolder, "action_tokenizer", "tokenizer.json"),
    },
    "google/paligemma-3b-pt-224": { "tokenizer.json": textTokenizer },
  });
});

async function evalJson(policyPath: string, extra: string[] = []): Promise<{ code: number; stderr: string; result?: { task: { loss: number; action_mse: number } } }> {
  const output = join(tmp("eval"), "eval.json");
  const r = await craft(["eval", `--policy.path=${policyPath}`, `--dataset.root=${data.reach}`, "--max_frames=4", "--batch_size=4", `--output=${output}`, ...extra]);
  return { code: r.code, stderr: r.stderr, result: r.code === 0 ? readJson(output) : undefined };
}

describe("--policy.path at a folder as LeRobot writes it (tokenizers named in config.json)", () => {
  it("eval resolves action_tokenizer_name and text_tokenizer_name in the HF cache and scores as the craft folder does", async () => {
    process.env.HF_HUB_OFFLINE = "1";
    process.env.HF_HUB_CACHE = cache;
    const own = await evalJson(craftFolder);
    expect(own.code, own.stderr).toBe(0);
    const lerobot = await evalJson(lerobotFolder);
    expect(lerobot.code, lerobot.stderr).toBe(0);
    expect(lerobot.result!.task.loss).toBe(own.result!.task.loss);
    expect(lerobot.result!.task.action_mse).toBe(own.result!.task.action_mse);
  });

  it("offline and not cached: one line naming the cache folder to fill and the config field", async () => {
    const empty = tmp("hf-empty");
    process.env.HF_HUB_OFFLINE = "1";
    process.env.HF_HUB_CACHE = empty;
    const r = await evalJson(lerobotFolder);
    expect(r.code).toBe(1);
    const lines = r.stderr.trim().split("\n").filter((l) => l.startsWith("error:"));
    expect(lines).toHaveLength(1);
    const folder = join(empty, "models--lerobot--fast-action-tokenizer");
    expect(lines[0]).toContain(`${folder}: field "action_tokenizer_name": expected model lerobot/fast-action-tokenizer@main in the Hugging Face cache`);
    expect(lines[0]).toContain(`fill ${folder}/snapshots/<commit>/ (processor_config.json, tokenizer.json) with ${folder}/refs/main naming <commit>`);
  });

  it("online: downloads only the tokenizer files into the cache (never PaliGemma's weights)", async () => {
    const paligemma = tmp("paligemma-repo");
    cpSync(textTokenizer, join(paligemma, "tokenizer.json"));
    writeFileSync(join(paligemma, "model-00001-of-00003.safetensors"), Buffer.alloc(1024, 7));
    const hub = await fakeHub({ "lerobot/fast-action-tokenizer": join(craftFolder, "action_tokenizer"), "google/paligemma-3b-pt-224": paligemma });
    const fresh = tmp("hf-fresh");
    process.env.HF_ENDPOINT = hub.url;
    process.env.HF_HUB_CACHE = fresh;
    try {
      const r = await evalJson(lerobotFolder);
      expect(r.code, r.stderr).toBe(0);
      // (@huggingface/hub asks for each file twice: its download info, then the bytes)
      expect([...new Set(hub.requests.filter((q) => q.includes("/resolve/")))].sort()).toEqual(
        [
          `GET /google/paligemma-3b-pt-224/resolve/${FAKE_HUB_COMMIT}/tokenizer.json`,
          `GET /lerobot/fast-action-tokenizer/resolve/${FAKE_HUB_COMMIT}/processor_config.json`,
          `GET /lerobot/fast-action-tokenizer/resolve/${FAKE_HUB_COMMIT}/tokenizer.json`,
        ].sort(),
      );
      const snapshot = join(fresh, "models--google--paligemma-3b-pt-224", "snapshots", FAKE_HUB_COMMIT);
      expect(readFileSync(join(snapshot, "tokenizer.json"))).toEqual(readFileSync(textTokenizer));
      expect(readFileSync(join(fresh, "models--google--paligemma-3b-pt-224", "refs", "main"), "utf8")).toBe(FAKE_HUB_COMMIT);
      expect(existsSync(join(snapshot, "model-00001-of-00003.safetensors"))).toBe(false);
    } finally {
      await hub.close();
    }
  });

  it("local paths in config.json load without any cache", async () => {
    const folder = join(tmp("lerobot-local"), "pretrained_model");
    cpSync(lerobotFolder, folder, { recursive: true });
    const config = readJson(join(folder, "config.json"));
    const textDir = join(textTokenizer, "..");
    writeFileSync(join(folder, "config.json"), JSON.stringify({ ...config, action_tokenizer_name: join(craftFolder, "action_tokenizer"), text_tokenizer_name: textDir }, null, 4));
    process.env.HF_HUB_OFFLINE = "1";
    process.env.HF_HUB_CACHE = tmp("hf-none");
    const r = await evalJson(folder);
    expect(r.code, r.stderr).toBe(0);
    process.env.HF_HUB_CACHE = cache;
    expect(r.result!.task.loss).toBe((await evalJson(lerobotFolder)).result!.task.loss);
  });

  it("train continues from it and saves the resolved tokenizers in craft's layout; --tokenizer.path replaces the action tokenizer", async () => {
    process.env.HF_HUB_OFFLINE = "1";
    process.env.HF_HUB_CACHE = cache;
    const run = join(tmp("finetune"), "run");
    const r = await craft(["train", `--policy.path=${lerobotFolder}`, `--dataset.root=${data.reach}`, "--batch_size=4", "--steps=1", `--output_dir=${run}`, "--policy.device=wasm"]);
    expect(r.code, r.stderr).toBe(0);
    const out = join(run, "checkpoints", "last", "pretrained_model");
    expect(filesUnder(join(out, "action_tokenizer"))).toEqual(filesUnder(join(craftFolder, "action_tokenizer")));
    expect(readFileSync(join(out, "tokenizer.json"))).toEqual(readFileSync(textTokenizer));
    // (the dataset's statistics are the checkpoint's robot's dims: the checkpoint's own stay, nothing more is saved)
    expect(readJson(join(out, "craft_config.json")).files).toEqual({ action_tokenizer: "action_tokenizer", text_tokenizer: "tokenizer.json" });

    // the action tokenizer from --tokenizer.path: the cache needs only the text tokenizer
    process.env.HF_HUB_CACHE = hubCache({ "google/paligemma-3b-pt-224": { "tokenizer.json": textTokenizer } });
    const other = join(tmp("finetune-tok"), "run");
    const t = await craft(["train", `--policy.path=${lerobotFolder}`, `--tokenizer.path=${join(craftFolder, "action_tokenizer")}`, `--dataset.root=${data.reach}`, "--batch_size=4", "--steps=1", `--output_dir=${other}`, "--policy.device=wasm"]);
    expect(t.code, t.stderr).toBe(0);
    expect(filesUnder(join(other, "checkpoints", "last", "pretrained_model", "action_tokenizer"))).toEqual(filesUnder(join(craftFolder, "action_tokenizer")));
  });
});

describe("craft eval --rename_map", () => {
  it("maps the dataset's (and in closed loop the environment's) keys to the ones the policy was trained with, as train does", async () => {
    const run = join(tmp("renamed"), "run");
    const rename = '--rename_map={"observation.images.front":"observation.images.base_0_rgb"}';
    const r = await craft(["train", ...MICRO_POLICY, `--dataset.root=${data.reach}`, "--batch_size=4", "--steps=1", `--output_dir=${run}`, rename]);
    expect(r.code, r.stderr).toBe(0);
    const folder = join(run, "checkpoints", "last", "pretrained_model");
    expect(Object.keys(readJson(join(folder, "config.json")).input_features)).toContain("observation.images.base_0_rgb");
    const without = await evalJson(folder);
    expect(without.code).toBe(1);
    expect(without.stderr).toContain('missing "observation.images.base_0_rgb"');
    const renamed = await evalJson(folder, [rename]);
    expect(renamed.code, renamed.stderr).toBe(0);
    expect(Number.isFinite(renamed.result!.task.loss)).toBe(true);
    // closed loop too: the environment's camera reaches the policy under its trained name
    const env = ["eval", `--policy.path=${folder}`, "--env.type=reach", "--eval.n_episodes=1", "--eval.batch_size=1", "--eval.max_episodes_rendered=0"];
    const unrenamed = await craft([...env, `--output_dir=${tmp("env-eval")}`]);
    expect(unrenamed.code).toBe(1);
    expect(unrenamed.stderr).toContain('camera "observation.images.base_0_rgb": the environment "reach" renders only "observation.images.front"');
    const closedLoop = await craft([...env, `--output_dir=${tmp("env-eval")}`, rename]);
    expect(closedLoop.code, closedLoop.stderr).toBe(0);
    expect(closedLoop.stdout).toMatch(/^reach ".*": success .* over 1 episodes/);
    // and in training: --eval_freq's environment check sees the renamed camera as well
    const trainEnv = ["train", `--policy.path=${folder}`, `--dataset.root=${data.reach}`, "--batch_size=4", "--steps=1", "--env.type=reach", "--eval_freq=1", "--eval.n_episodes=1", "--eval.batch_size=1"];
    const trainedUnrenamed = await craft([...trainEnv, `--output_dir=${join(tmp("renamed-train"), "a")}`]);
    expect(trainedUnrenamed.code).not.toBe(0);
    expect(trainedUnrenamed.stderr).toContain('camera "observation.images.base_0_rgb": the environment "reach" renders only "observation.images.front"');
    const trained = await craft([...trainEnv, `--output_dir=${join(tmp("renamed-train"), "b")}`, rename]);
    expect(trained.code, trained.stderr).toBe(0);
    const bad = await evalJson(folder, ["--rename_map=[1]"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("--rename_map: expected a JSON object of key renames");
  });
});

describe("--policy.push_to_hub", () => {
  it("uploads the last pretrained_model/ to the Hub at HF_ENDPOINT with HF_TOKEN: every file, byte for byte", async () => {
    const hub = await fakeHub();
    process.env.HF_ENDPOINT = hub.url;
    process.env.HF_TOKEN = "hf_test_write";
    const run = join(tmp("pushed"), "run");
    try {
      const r = await craft(["train", ...MICRO_POLICY, `--dataset.root=${data.reach}`, "--batch_size=4", "--steps=1", `--output_dir=${run}`, "--policy.push_to_hub=true", "--policy.repo_id=me/pushed-policy"]);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).toContain(`pushed `);
      const local = filesUnder(join(run, "checkpoints", "last", "pretrained_model"));
      const arrived = Object.fromEntries(hub.pushed.get("me/pushed-policy") ?? []);
      expect(Object.keys(arrived).sort()).toEqual(Object.keys(local).sort());
      expect(Object.keys(arrived)).toEqual(expect.arrayContaining(["config.json", "model.safetensors", "action_tokenizer/processor_config.json", "action_tokenizer/tokenizer.json"]));
      for (const [name, bytes] of Object.entries(local)) expect(arrived[name]!.equals(bytes), name).toBe(true);
      // created first, safetensors through LFS, one commit, every call with the token
      expect(hub.requests).toContain("POST /api/repos/create");
      expect(hub.requests.some((q) => q.startsWith("PUT /lfs-store/"))).toBe(true);
      expect(hub.requests.filter((q) => q === "POST /api/models/me/pushed-policy/commit/main")).toHaveLength(1);
      expect([...hub.tokens]).toEqual(["Bearer hf_test_write"]);
    } finally {
      await hub.close();
    }
  });
});
