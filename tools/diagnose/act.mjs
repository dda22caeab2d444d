// Why does a pi0-FAST checkpoint not act yet? Three measurements on its own training frames and
// scenes (cli README, "What it takes for a policy to act"):
//  1. observation dependence: the token loss as the frames are, and with the camera images or the
//     states rolled by one frame across the batch (a gap of 0: the policy ignores that input);
//  2. the loss and accuracy of each action-block position under teacher forcing (the first FAST
//     token after "Action: " says where the arm goes), and how many distinct first tokens the
//     frames have and how many coefficients they spell;
//  3. in the simulated scene (--env.type, --env.task): the policy's first action against the
//     scripted expert's, from a few resets, with the error of staying put for scale; in the
//     two-target scene also where each chunk ends: at which station, or elsewhere;
//  4. in the two-target scene, the same 16 cameras and instruction with only the state's y swept
//     over −0.6 … 0.6: how many chunks still end at the instructed station, and where the others end
//     (a policy that reads the instruction and keys its destination on the state's digits).
// Usage: node tools/diagnose/act.mjs --policy.path=DIR --dataset.root=DIR [--env.type=two_target --env.task=red] [--frames=32]
import { initBackend, loadPi0FastPolicy, loadFastTokenizer } from "@craft/policy-pi0fast";
import { deltaTimestampsForChunk, makeEnv, openDataset, readInfo, STATIONS, SUCCESS_RADIUS } from "@craft/datasets";
import { join } from "node:path";
import { existsSync } from "node:fs";

const flag = (name, fallback) => {
  const hit = process.argv.find((a) => a.startsWith(`--${name}=`));
  return hit === undefined ? fallback : hit.slice(name.length + 3);
};
const policyDir = flag("policy.path");
const root = flag("dataset.root");
if (!policyDir || !root) throw new Error("usage: act.mjs --policy.path=DIR --dataset.root=DIR [--env.type=two_target --env.task=red] [--frames=32]");
const pretrained = existsSync(join(policyDir, "pretrained_model")) ? join(policyDir, "pretrained_model") : policyDir;
const frames = Number(flag("frames", "32"));

await initBackend("auto");
const policy = await loadPi0FastPolicy(pretrained);
const { fps } = readInfo(root).info;
const data = await openDataset(root, { deltaTimestamps: { action: deltaTimestampsForChunk(fps, policy.config.chunk_size) } });
// frames i·97 mod N: spread over the episodes, the same ones on every run
const batch = await data.getFrames(Array.from({ length: frames }, (_, i) => (i * 97) % data.numFrames));

// 1. observation dependence
const rolled = (keys) => ({
  ...batch,
  features: Object.fromEntries(
    Object.entries(batch.features).map(([key, f]) => {
      if (!keys.includes(key)) return [key, f];
      const per = f.data.length / f.shape[0];
      const data = new f.data.constructor(f.data.length);
      for (let b = 0; b < f.shape[0]; b++) data.set(f.data.subarray(((b + 1) % f.shape[0]) * per, (((b + 1) % f.shape[0]) + 1) * per), b * per);
      return [key, { ...f, data }];
    }),
  ),
});
const cameras = Object.keys(batch.features).filter((k) => k.startsWith("observation.image"));
const loss = async (b) => (await policy.evaluate(b)).loss;
const base = await loss(batch);
const camera = await loss(rolled(cameras));
const state = await loss(rolled(["observation.state"]));
console.log(`observation dependence (${frames} frames): loss/token ${base.toFixed(4)}; camera rolled +${(camera - base).toFixed(4)}; state rolled +${(state - base).toFixed(4)}`);

// 2. per-position loss and accuracy, first-token statistics
const vocab = policy.config.decoder.vocab_size;
const { data: top, shape } = await policy.teacherTopLogProbs(batch, vocab);
const inputs = policy.processor.toModelInputs(batch);
const [B, P, K] = shape;
const La = inputs.actionLength;
const rows = [];
let first = -1;
for (let j = 0; j < P; j++) {
  let nll = 0, hits = 0, n = 0;
  for (let b = 0; b < B; b++) {
    if (!inputs.lossMask[b * La + j + 1]) continue;
    const target = inputs.actionTokens[b * La + j + 1];
    const at = (b * P + j) * K * 2;
    for (let k = 0; k < K; k++) if (top[at + 2 * k] === target) { nll -= top[at + 2 * k + 1]; break; }
    hits += top[at] === target ? 1 : 0;
    n += 1;
  }
  if (n === 0) continue;
  if (first < 0 && nll / n > 1e-3) first = j;
  rows.push(`${j}:${(nll / n).toFixed(2)}/${(hits / n).toFixed(2)}`);
}
console.log(`per position (nll/accuracy; the first uncertain one, ${first}, is the first FAST token): ${rows.slice(0, 16).join("  ")}`);
const tokenizerDir = join(pretrained, "action_tokenizer");
if (first >= 0 && existsSync(tokenizerDir)) {
  const fast = loadFastTokenizer(tokenizerDir);
  const ids = new Map();
  const chars = new Map();
  for (let b = 0; b < B; b++) {
    const id = inputs.actionTokens[b * La + first + 1];
    ids.set(id, (ids.get(id) ?? 0) + 1);
    const t = vocab - 1 - policy.config.fast_skip_tokens - id;
    const c = fast.decode([t], { chunkSize: 1, actionDim: 1 }).coefficients;
    chars.set(c, (chars.get(c) ?? 0) + 1);
  }
  console.log(`first FAST token: ${ids.size} distinct over ${B} frames; coefficients it spells: ${[...chars].sort((a, b) => a[0] - b[0]).map(([c, n]) => `${c}×${n}`).join(" ")}`);
}

// 3. first action against the expert's in the scene
const envType = flag("env.type");
if (envType) {
  const task = flag("env.task", null);
  const envs = Array.from({ length: 16 }, () => makeEnv({ type: envType, task }));
  const observations = envs.map((env, i) => {
    let o = env.reset(1000 + i);
    for (let k = 0; k < (i % 4) * 3; k++) o = env.step(env.expertAction(() => 0)).observation;
    return o;
  });
  const experts = envs.map((env) => env.expertAction(() => 0));
  const size = Math.round(Math.sqrt(observations[0]["observation.images.front"].length / 3));
  const dim = observations[0]["observation.state"].length;
  const stateData = new Float32Array(16 * dim);
  const image = new Uint8Array(16 * size * size * 3);
  observations.forEach((o, b) => {
    stateData.set(o["observation.state"], b * dim);
    image.set(o["observation.images.front"], b * size * size * 3);
  });
  const selected = await policy.selectAction({
    size: 16,
    features: { "observation.state": { data: stateData, shape: [16, dim] }, "observation.images.front": { data: image, shape: [16, size, size, 3] } },
    task: observations.map(() => envs[0].spec.instruction),
  });
  const n = policy.config.n_action_steps;
  let policyError = 0, stayError = 0;
  for (let b = 0; b < 16; b++) {
    const a = selected.actions.subarray(b * n * dim, b * n * dim + dim);
    for (const d of [0, 1]) {
      policyError += Math.abs(a[d] - experts[b][d]) / 32;
      stayError += Math.abs(stateData[b * dim + d] - experts[b][d]) / 32;
    }
  }
  const distinct = new Set(selected.tokens.map((t) => t.join(","))).size;
  console.log(`first action vs the expert's (${envType} "${envs[0].spec.instruction}", 16 scenes): mean |error| of x and y ${policyError.toFixed(3)}, staying put ${stayError.toFixed(3)}; ${distinct} distinct chunks, ${selected.invalid} invalid decodes`);
  if (envType === "two_target") {
    // Where each chunk's last action points: within SUCCESS_RADIUS of a station, or elsewhere.
    const ends = new Map();
    for (let b = 0; b < 16; b++) {
      const last = selected.actions.subarray(b * n * dim + (n - 1) * dim, b * n * dim + n * dim);
      const at = Object.keys(STATIONS).find((c) => Math.hypot(last[0] - STATIONS[c][0], last[1] - STATIONS[c][1]) < SUCCESS_RADIUS);
      ends.set(at ?? "elsewhere", (ends.get(at ?? "elsewhere") ?? 0) + 1);
    }
    console.log(`chunks end at: ${[...ends].sort((a, b) => b[1] - a[1]).map(([w, k]) => `${w} ${k}`).join("; ")}`);

    // 4. The same scenes' cameras and instruction, only the state's y changed: does the state pick the destination?
    const ys = [-0.6, -0.3, 0, 0.3, 0.6];
    const swept = observations.flatMap((o) => ys.map((y) => ({ o, y })));
    const sweptState = new Float32Array(swept.length * dim);
    const sweptImage = new Uint8Array(swept.length * size * size * 3);
    swept.forEach(({ o, y }, b) => {
      const s = Float32Array.from(o["observation.state"]);
      s[1] = y;
      s[5] = Math.hypot(s[0], y); // the radius the arm would have there
      sweptState.set(s, b * dim);
      sweptImage.set(o["observation.images.front"], b * size * size * 3);
    });
    const sweep = await policy.selectAction({
      size: swept.length,
      features: { "observation.state": { data: sweptState, shape: [swept.length, dim] }, "observation.images.front": { data: sweptImage, shape: [swept.length, size, size, 3] } },
      task: swept.map(() => envs[0].spec.instruction),
    });
    const points = new Map();
    let instructed = 0;
    swept.forEach((_, b) => {
      const last = sweep.actions.subarray(b * n * dim + (n - 1) * dim, b * n * dim + n * dim);
      const at = Object.keys(STATIONS).find((c) => Math.hypot(last[0] - STATIONS[c][0], last[1] - STATIONS[c][1]) < SUCCESS_RADIUS);
      if (at === task) instructed += 1;
      const key = at ?? `(${last[0].toFixed(1)}, ${last[1].toFixed(1)})`;
      points.set(key, (points.get(key) ?? 0) + 1);
    });
    console.log(
      `state's y swept over ${ys.join(", ")} (same cameras): ${instructed} of ${swept.length} chunks end at ${task}; ends: ` +
        [...points].sort((a, b) => b[1] - a[1]).map(([w, k]) => `${w} ${k}`).join("; "),
    );
  }
}
policy.dispose();
