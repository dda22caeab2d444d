// Does a fine-tuned policy keep KL(base ‖ policy) under its bound on every anchor frame, or only on
// average? The per-frame KL on an anchor cache built with --policy.path=<base> (its stored top-k
// log-probs are the base), split into episode starts (frame_index 0) and the other frames: mean,
// median, 90th percentile and largest (cli README, "What it takes for a policy to act", point 7).
// Then where in the chunk that KL sits: the mean KL at each action-token position (the first FAST
// tokens spell where the arm goes), and how much of a frame's KL its largest position holds.
// Usage: node tools/diagnose/anchor_kl.mjs --anchors=DIR --policy.path=DIR
import { initBackend, loadPi0FastPolicy } from "@craft/policy-pi0fast";
import { deltaTimestampsForChunk, openAnchorSet, readAnchorManifest } from "@craft/datasets";
import { join } from "node:path";
import { existsSync } from "node:fs";

const flag = (name) => process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
const anchorDir = flag("anchors");
const policyDir = flag("policy.path");
if (!anchorDir || !policyDir) throw new Error("usage: anchor_kl.mjs --anchors=DIR --policy.path=DIR");
// a pretrained_model folder, a checkpoint, or a run directory (its last checkpoint)
const pretrained = [join(policyDir, "checkpoints", "last", "pretrained_model"), join(policyDir, "pretrained_model")].find(existsSync) ?? policyDir;

await initBackend("auto");
const policy = await loadPi0FastPolicy(pretrained);
// the source's fps from the manifest, so the cache's rows are read once
const { fps } = readAnchorManifest(anchorDir).source;
const anchors = await openAnchorSet(anchorDir, { deltaTimestamps: { action: deltaTimestampsForChunk(fps, policy.config.chunk_size) } });
const groups = { "episode starts": [], "other frames": [] };
const vocab = policy.config.decoder.vocab_size;
const positionSums = [];
const positionCounts = [];
const topShares = [];
for (let i = 0; i < anchors.numFrames; i++) {
  const frame = await anchors.getFrames([i]);
  // KL(base ‖ policy) per position on the base's top-k buckets plus the rest, as the distill loss
  // forms it; the frame's KL per token is their mean over the action tokens (one forward pass).
  const teacher = frame.features["teacher.action_top_log_probs"];
  const [, P, k] = teacher.shape;
  const { data: student } = await policy.teacherTopLogProbs(frame, vocab);
  const { lossMask } = policy.processor.toModelInputs(frame);
  const studentLogProb = new Float64Array(vocab);
  const perPosition = [];
  for (let j = 0; j < P; j++) {
    if (!lossMask[j + 1]) continue;
    for (let v = 0; v < vocab; v++) studentLogProb[student[(j * vocab + v) * 2]] = student[(j * vocab + v) * 2 + 1];
    let kl = 0;
    let pMass = 0;
    let qMass = 0;
    for (let t = 0; t < k; t++) {
      const id = teacher.data[(j * k + t) * 2];
      const lp = teacher.data[(j * k + t) * 2 + 1];
      const p = Math.exp(lp);
      pMass += p;
      qMass += Math.exp(studentLogProb[id]);
      if (p > 0) kl += p * (lp - studentLogProb[id]);
    }
    const pRest = Math.max(0, 1 - pMass);
    if (pRest > 0) kl += pRest * (Math.log(pRest) - Math.log(Math.max(1e-30, 1 - qMass)));
    positionSums[perPosition.length] = (positionSums[perPosition.length] ?? 0) + kl;
    positionCounts[perPosition.length] = (positionCounts[perPosition.length] ?? 0) + 1;
    perPosition.push(kl);
  }
  const total = perPosition.reduce((a, b) => a + b, 0);
  groups[frame.features.frame_index.data[0] === 0 ? "episode starts" : "other frames"].push(total / perPosition.length);
  if (total > 0) topShares.push(Math.max(...perPosition) / total);
}
const at = (sorted, q) => sorted[Math.floor(q * (sorted.length - 1))];
for (const [name, xs] of Object.entries(groups)) {
  if (xs.length === 0) continue;
  const sorted = [...xs].sort((a, b) => a - b);
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  console.log(`${name} (${xs.length}): KL per token mean ${mean.toFixed(4)}, median ${at(sorted, 0.5).toFixed(4)}, p90 ${at(sorted, 0.9).toFixed(4)}, max ${at(sorted, 1).toFixed(4)}`);
}
const positions = positionSums.map((sum, j) => (sum / positionCounts[j]).toFixed(4));
console.log(`KL per action-token position (mean over the anchors, first 12 of ${positions.length}): ${positions.slice(0, 12).join(" ")}`);
const shares = [...topShares].sort((a, b) => a - b);
console.log(`share of a frame's KL at its largest position: median ${at(shares, 0.5).toFixed(2)}, p90 ${at(shares, 0.9).toFixed(2)}`);
await anchors.close();
policy.dispose();
