// Does a fine-tuned policy keep KL(base ‖ policy) under its bound on every anchor frame, or only on
// average? The per-frame KL on an anchor cache built with --policy.path=<base> (its stored top-k
// log-probs are the base), split into episode starts (frame_index 0) and the other frames: mean,
// median, 90th percentile and largest (cli README, "What it takes for a policy to act", point 7).
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
for (let i = 0; i < anchors.numFrames; i++) {
  const frame = await anchors.getFrames([i]);
  const { loss } = await policy.evaluate(frame, { loss: "distill" });
  groups[frame.features.frame_index.data[0] === 0 ? "episode starts" : "other frames"].push(loss);
}
const at = (sorted, q) => sorted[Math.floor(q * (sorted.length - 1))];
for (const [name, xs] of Object.entries(groups)) {
  if (xs.length === 0) continue;
  const sorted = [...xs].sort((a, b) => a - b);
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  console.log(`${name} (${xs.length}): KL per token mean ${mean.toFixed(4)}, median ${at(sorted, 0.5).toFixed(4)}, p90 ${at(sorted, 0.9).toFixed(4)}, max ${at(sorted, 1).toFixed(4)}`);
}
await anchors.close();
policy.dispose();
