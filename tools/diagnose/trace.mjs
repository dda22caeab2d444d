// Where does a policy go when it fails? On a policy's own closed-loop episodes recorded as a
// dataset (`craft dataset make-synthetic --policy.path=…`), per episode: its length, where it
// ended (within the success radius of a two-target station, or elsewhere), the executed actions
// that no expert commands, outside the table (x or y beyond ±1, height beyond 0…1), and those a
// full MAX_STEP or more from the arm (the expert glides 15% of the way; the environment clamps
// longer moves to MAX_STEP). Then the points where the
// arm rested (moved less than SETTLE_STEP in a tick) in more than one failed episode: the
// attractors a stalling policy falls into, whatever scene it started from.
// Usage: node tools/diagnose/trace.mjs --dataset.root=DIR [--episodes=N]
import { MAX_STEP, openDataset, SETTLE_STEP, STATIONS, SUCCESS_RADIUS } from "@craft/datasets";

const flag = (name, fallback) => {
  const hit = process.argv.find((a) => a.startsWith(`--${name}=`));
  return hit === undefined ? fallback : hit.slice(name.length + 3);
};
const root = flag("dataset.root");
if (!root) throw new Error("usage: trace.mjs --dataset.root=DIR (a policy's episodes: craft dataset make-synthetic --policy.path=…) [--episodes=N]");

const data = await openDataset(root, {});
const batch = await data.getFrames(Array.from({ length: data.numFrames }, (_, i) => i));
const state = batch.features["observation.state"];
const action = batch.features.action;
const dim = state.shape[1];
const episodeOf = batch.features.episode_index.data;
const episodes = new Map();
for (let i = 0; i < data.numFrames; i++) {
  const e = Number(episodeOf[i]);
  if (!episodes.has(e)) episodes.set(e, []);
  episodes.get(e).push(i);
}
const at = (f, i, k) => f.data[i * dim + k];
const fmt = (xs) => xs.map((v) => v.toFixed(2)).join(", ");
const station = (x, y) => Object.keys(STATIONS).find((c) => Math.hypot(x - STATIONS[c][0], y - STATIONS[c][1]) < SUCCESS_RADIUS) ?? "no station";
// A successful recording ends on the tick the environment reported success; a failed one runs 60 ticks (or ends at another target).
const limit = Number(flag("episodes", String(episodes.size)));
const rests = new Map();
let shown = 0;
let offTotal = 0;
let fullTotal = 0;
let ticksTotal = 0;
for (const [e, frames] of episodes) {
  if (shown++ >= limit) break;
  let offTable = 0;
  let fullSteps = 0;
  const visited = new Set();
  for (let t = 0; t < frames.length; t++) {
    const i = frames[t];
    const [x, y, z] = [0, 1, 2].map((k) => at(action, i, k));
    if (Math.abs(x) > 1 || Math.abs(y) > 1 || z < 0 || z > 1) offTable += 1;
    const reach = Math.hypot(x - at(state, i, 0), y - at(state, i, 1), Math.min(1, Math.max(0, z)) - at(state, i, 2));
    if (reach >= MAX_STEP) fullSteps += 1;
    if (t + 1 < frames.length) {
      const j = frames[t + 1];
      const moved = Math.hypot(...[0, 1, 2].map((k) => at(state, j, k) - at(state, i, k)));
      if (moved < SETTLE_STEP) visited.add([0, 1, 2].map((k) => (Math.round(at(state, j, k) * 20) / 20).toFixed(2)).join(", "));
    }
  }
  offTotal += offTable;
  fullTotal += fullSteps;
  ticksTotal += frames.length;
  const last = frames.at(-1);
  const end = [0, 1, 2].map((k) => at(state, last, k));
  const failed = frames.length >= 60;
  if (failed) for (const point of visited) rests.set(point, (rests.get(point) ?? 0) + 1);
  console.log(
    `episode ${e}: ${frames.length} ticks${failed ? " (timed out)" : ""}; from (${fmt([0, 1, 2].map((k) => at(state, frames[0], k)))}) to (${fmt(end)}), ${station(end[0], end[1])}; ` +
      `actions off the table ${offTable}, a full step away ${fullSteps}`,
  );
}
console.log(`of ${ticksTotal} executed actions: ${offTotal} off the table, ${fullTotal} a full step or more from the arm`);
const shared = [...rests].filter(([, n]) => n > 1).sort((a, b) => b[1] - a[1]);
console.log(shared.length === 0 ? "no resting point shared by two failed episodes" : `resting points shared by failed episodes: ${shared.slice(0, 5).map(([p, n]) => `(${p}) in ${n}`).join("; ")}`);
