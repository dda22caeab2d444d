// The real tiny pi0-FAST policy (packages/policy-pi0fast's build) on synthetic so101-like batches:
// 6-D state and actions (smooth random trajectories), one 64×64 camera, batch 8, chunk 10.
// Returns undefined when the policy package's build does not export createPi0FastPolicy.
import { seededUniform } from "../seeded-uniform.mjs";

const B = 8;
const D = 6;

/** A smooth trajectory value for frame t of dimension d of sample s, in [-1, 1]. */
const trajectory = (s, t, d) => Math.sin(0.3 * t + d + 0.7 * s) * 0.8 + 0.1 * Math.cos(1.3 * t * (d + 1));

export const makeRealSetup = async () => {
  let policyPackage;
  try {
    policyPackage = await import("@craft/policy-pi0fast");
  } catch {
    return undefined;
  }
  const { createPi0FastPolicy, fitFastTokenizer, initBackend, pi0FastConfig } = policyPackage;
  if (typeof createPi0FastPolicy !== "function") return undefined;
  const backend = await initBackend(process.env.BENCH_DEVICE ?? "auto");
  const config = pi0FastConfig({ preset: "tiny", image_keys: ["observation.images.top"] });
  const chunk = config.chunk_size;
  const [H, W] = config.image_resolution;
  const stats = {
    "observation.state": { q01: Array(D).fill(-1), q99: Array(D).fill(1), mean: Array(D).fill(0), std: Array(D).fill(0.5), min: Array(D).fill(-1), max: Array(D).fill(1) },
    action: { q01: Array(D).fill(-1), q99: Array(D).fill(1), mean: Array(D).fill(0), std: Array(D).fill(0.5), min: Array(D).fill(-1), max: Array(D).fill(1) },
  };
  const chunks = [];
  for (let s = 0; s < 200; s++) {
    const c = new Float32Array(chunk * D);
    for (let t = 0; t < chunk; t++) for (let d = 0; d < D; d++) c[t * D + d] = trajectory(s, t, d);
    chunks.push(c);
  }
  const fastTokenizer = fitFastTokenizer(chunks, { chunkSize: chunk, actionDim: D, vocabSize: 256 });

  const makeSource = (seed, task) => {
    let index = 0;
    return {
      async next() {
        const r = seededUniform(seed * 104729 + index);
        const state = new Float32Array(B * D);
        const action = new Float32Array(B * chunk * D);
        const image = new Uint8Array(B * H * W * 3);
        for (let b = 0; b < B; b++) {
          const s = index * B + b + seed * 1000;
          for (let d = 0; d < D; d++) state[b * D + d] = trajectory(s, 0, d);
          for (let t = 0; t < chunk; t++) for (let d = 0; d < D; d++) action[(b * chunk + t) * D + d] = trajectory(s, t + 1, d);
        }
        for (let i = 0; i < image.length; i++) image[i] = Math.floor(r() * 256);
        index += 1;
        return {
          size: B,
          task: Array(B).fill(task),
          features: {
            "observation.state": { data: state, shape: [B, D] },
            action: { data: action, shape: [B, chunk, D] },
            action_is_pad: { data: new Uint8Array(B * chunk), shape: [B, chunk] },
            "observation.images.top": { data: image, shape: [B, H, W, 3] },
          },
        };
      },
      position: () => ({ index }),
      restore(p) {
        index = p.index;
      },
    };
  };
  const makePolicy = () => createPi0FastPolicy({ config, stats, fastTokenizer, seed: 1 });
  const probe = makePolicy();
  const name = `real pi0-FAST policy, preset tiny, ${(probe.numParameters / 1e6).toFixed(2)}M parameters, batch ${B}, backend ${backend.backend ?? backend.name ?? JSON.stringify(backend)}`;
  probe.dispose();
  return {
    real: true,
    name,
    batchSize: B,
    makePolicy,
    taskSource: () => makeSource(1, "pick up the cube"),
    anchorSource: () => makeSource(2, "open the drawer"),
  };
};
