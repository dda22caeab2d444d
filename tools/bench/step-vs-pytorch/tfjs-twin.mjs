// Stand-alone tfjs model with exactly the shapes of step.py (used when the package's policy is
// not built yet). Same architecture, loss, AdamW and clipping; tfjs-core ops only.
import * as tf from "@tensorflow/tfjs-core";
import { seededUniform } from "../seeded-uniform.mjs";

export const VISION = { image: 64, patch: 8, width: 128, depth: 2, mlp: 512, heads: 4 };
export const DECODER = { width: 256, depth: 4, mlp: 1024, heads: 4, kvHeads: 1, headDim: 64, vocab: 2048 };
export const PROMPT = 48;
export const ACTIONS = 64;

export function initParams(seed = 0) {
  const rand = seededUniform(seed);
  const params = {};
  const normal = (name, shape, std) => {
    const n = shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(n);
    for (let i = 0; i < n; i++) data[i] = (rand() * 2 - 1) * std * Math.sqrt(3);
    params[name] = tf.variable(tf.tensor(data, shape), true, name);
  };
  const constant = (name, shape, value) => (params[name] = tf.variable(tf.fill(shape, value), true, name));
  const v = VISION;
  const d = DECODER;
  normal("patch.w", [3 * v.patch * v.patch, v.width], 1 / Math.sqrt(3 * v.patch * v.patch));
  constant("patch.b", [v.width], 0);
  normal("pos", [(v.image / v.patch) ** 2, v.width], 0.02);
  for (let i = 0; i < v.depth; i++) {
    const p = `vision.${i}.`;
    for (const ln of ["ln1", "ln2"]) {
      constant(p + ln + ".w", [v.width], 1);
      constant(p + ln + ".b", [v.width], 0);
    }
    for (const m of ["q", "k", "v", "o"]) {
      normal(p + m + ".w", [v.width, v.width], 1 / Math.sqrt(v.width));
      constant(p + m + ".b", [v.width], 0);
    }
    normal(p + "fc1.w", [v.width, v.mlp], 1 / Math.sqrt(v.width));
    constant(p + "fc1.b", [v.mlp], 0);
    normal(p + "fc2.w", [v.mlp, v.width], 1 / Math.sqrt(v.mlp));
    constant(p + "fc2.b", [v.width], 0);
  }
  constant("post.w", [v.width], 1);
  constant("post.b", [v.width], 0);
  normal("proj.w", [v.width, d.width], 1 / Math.sqrt(v.width));
  constant("proj.b", [d.width], 0);
  normal("embed", [d.vocab, d.width], 0.02);
  for (let i = 0; i < d.depth; i++) {
    const p = `layer.${i}.`;
    constant(p + "in_norm", [d.width], 0);
    constant(p + "post_norm", [d.width], 0);
    normal(p + "q", [d.width, d.heads * d.headDim], 1 / Math.sqrt(d.width));
    normal(p + "k", [d.width, d.kvHeads * d.headDim], 1 / Math.sqrt(d.width));
    normal(p + "v", [d.width, d.kvHeads * d.headDim], 1 / Math.sqrt(d.width));
    normal(p + "o", [d.heads * d.headDim, d.width], 1 / Math.sqrt(d.heads * d.headDim));
    normal(p + "gate", [d.width, d.mlp], 1 / Math.sqrt(d.width));
    normal(p + "up", [d.width, d.mlp], 1 / Math.sqrt(d.width));
    normal(p + "down", [d.mlp, d.width], 1 / Math.sqrt(d.mlp));
  }
  constant("norm", [d.width], 0);
  return params;
}

const linear = (x, w, b) => {
  const shape = x.shape;
  const y = tf.matMul(tf.reshape(x, [-1, shape[shape.length - 1]]), w);
  const out = tf.reshape(b === undefined ? y : tf.add(y, b), [...shape.slice(0, -1), w.shape[1]]);
  return out;
};
const layerNorm = (x, w, b) => {
  const { mean, variance } = tf.moments(x, -1, true);
  return tf.add(tf.mul(tf.div(tf.sub(x, mean), tf.sqrt(tf.add(variance, 1e-6))), w), b);
};
const gelu = (x) => tf.mul(tf.mul(x, 0.5), tf.add(1, tf.tanh(tf.mul(tf.add(x, tf.mul(tf.pow(x, 3), 0.044715)), Math.sqrt(2 / Math.PI)))));
const rmsNorm = (x, w) => tf.mul(tf.mul(x, tf.rsqrt(tf.add(tf.mean(tf.square(x), -1, true), 1e-6))), tf.add(w, 1));
const rope = (x, cos, sin) => {
  const half = x.shape[x.shape.length - 1] / 2;
  const [x1, x2] = tf.split(x, [half, half], -1);
  return tf.concat([tf.sub(tf.mul(x1, cos), tf.mul(x2, sin)), tf.add(tf.mul(x2, cos), tf.mul(x1, sin))], -1);
};

export function makeBatch(batch, seed = 1) {
  const rand = seededUniform(seed);
  const v = VISION;
  const images = tf.tensor(Float32Array.from({ length: batch * 3 * v.image * v.image }, () => rand() * 2 - 1), [batch, 3, v.image, v.image]);
  const ids = (n) => tf.tensor(Int32Array.from({ length: batch * n }, () => Math.floor(rand() * DECODER.vocab)), [batch, n], "int32");
  const mask = new Float32Array(batch * ACTIONS);
  for (let b = 0; b < batch; b++) for (let t = 0; t < 48; t++) mask[b * ACTIONS + t] = 1;
  return { images, prompt: ids(PROMPT), actions: ids(ACTIONS), actionMask: tf.tensor(mask, [batch, ACTIONS]) };
}

/** Constants of the attention layout: RoPE tables and the prefix-LM mask bias. */
export function makeLayout(imageTokens) {
  const n = imageTokens + PROMPT + ACTIONS;
  const prefix = imageTokens + PROMPT;
  const bias = new Float32Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) bias[i * n + j] = j <= i || (i < prefix && j < prefix) ? 0 : -1e9;
  const hd = DECODER.headDim;
  const cos = new Float32Array(n * (hd / 2));
  const sin = new Float32Array(n * (hd / 2));
  for (let p = 0; p < n; p++)
    for (let i = 0; i < hd / 2; i++) {
      const angle = p / 10000 ** ((2 * i) / hd);
      cos[p * (hd / 2) + i] = Math.cos(angle);
      sin[p * (hd / 2) + i] = Math.sin(angle);
    }
  return { n, prefix, bias: tf.tensor(bias, [1, 1, n, n]), cos: tf.tensor(cos, [n, hd / 2]), sin: tf.tensor(sin, [n, hd / 2]) };
}

export function loss(params, batch, layout) {
  const v = VISION;
  const d = DECODER;
  const b = batch.images.shape[0];
  const g = v.image / v.patch;
  let x = tf.reshape(tf.transpose(tf.reshape(batch.images, [b, 3, g, v.patch, g, v.patch]), [0, 2, 4, 1, 3, 5]), [b, g * g, 3 * v.patch * v.patch]);
  x = tf.add(linear(x, params["patch.w"], params["patch.b"]), params.pos);
  const hv = v.width / v.heads;
  for (let i = 0; i < v.depth; i++) {
    const p = `vision.${i}.`;
    const h = layerNorm(x, params[p + "ln1.w"], params[p + "ln1.b"]);
    const heads = (t) => tf.transpose(tf.reshape(t, [b, g * g, v.heads, hv]), [0, 2, 1, 3]);
    const q = heads(linear(h, params[p + "q.w"], params[p + "q.b"]));
    const k = heads(linear(h, params[p + "k.w"], params[p + "k.b"]));
    const vv = heads(linear(h, params[p + "v.w"], params[p + "v.b"]));
    const att = tf.softmax(tf.mul(tf.matMul(q, k, false, true), 1 / Math.sqrt(hv)));
    const o = tf.reshape(tf.transpose(tf.matMul(att, vv), [0, 2, 1, 3]), [b, g * g, v.width]);
    x = tf.add(x, linear(o, params[p + "o.w"], params[p + "o.b"]));
    const h2 = layerNorm(x, params[p + "ln2.w"], params[p + "ln2.b"]);
    x = tf.add(x, linear(gelu(linear(h2, params[p + "fc1.w"], params[p + "fc1.b"])), params[p + "fc2.w"], params[p + "fc2.b"]));
  }
  const img = linear(layerNorm(x, params["post.w"], params["post.b"]), params["proj.w"], params["proj.b"]);
  const tokens = tf.concat([batch.prompt, batch.actions], 1);
  const emb = tf.mul(tf.gather(params.embed, tokens), Math.sqrt(d.width));
  let h = tf.concat([img, emb], 1);
  const n = layout.n;
  const hd = d.headDim;
  for (let i = 0; i < d.depth; i++) {
    const p = `layer.${i}.`;
    const hn = rmsNorm(h, params[p + "in_norm"]);
    // Multi-query attention as [b, heads·n, hd]·[b, n, hd]ᵀ: no broadcast batch dims.
    const q = rope(tf.transpose(tf.reshape(linear(hn, params[p + "q"]), [b, n, d.heads, hd]), [0, 2, 1, 3]), layout.cos, layout.sin);
    const k = rope(linear(hn, params[p + "k"]), layout.cos, layout.sin);
    const vv = linear(hn, params[p + "v"]);
    const scores = tf.reshape(tf.matMul(tf.reshape(q, [b, d.heads * n, hd]), k, false, true), [b, d.heads, n, n]);
    const att = tf.reshape(tf.softmax(tf.add(tf.mul(scores, 1 / Math.sqrt(hd)), layout.bias)), [b, d.heads * n, n]);
    const o = tf.reshape(tf.transpose(tf.reshape(tf.matMul(att, vv), [b, d.heads, n, hd]), [0, 2, 1, 3]), [b, n, d.heads * hd]);
    h = tf.add(h, linear(o, params[p + "o"]));
    const h2 = rmsNorm(h, params[p + "post_norm"]);
    h = tf.add(h, linear(tf.mul(gelu(linear(h2, params[p + "gate"])), linear(h2, params[p + "up"])), params[p + "down"]));
  }
  h = rmsNorm(h, params.norm);
  const predicting = tf.slice(h, [0, layout.prefix - 1, 0], [b, ACTIONS, d.width]);
  const logits = tf.matMul(tf.reshape(predicting, [b * ACTIONS, d.width]), params.embed, false, true);
  const logp = tf.logSoftmax(logits);
  const picked = tf.sum(tf.mul(logp, tf.oneHot(tf.reshape(batch.actions, [-1]), d.vocab)), -1);
  const mask = tf.reshape(batch.actionMask, [-1]);
  return tf.div(tf.neg(tf.sum(tf.mul(picked, mask))), tf.sum(mask));
}

/** AdamW as torch.optim.AdamW, after global-norm clipping. */
export function makeAdamW(params, { lr = 2.5e-5, beta1 = 0.9, beta2 = 0.95, eps = 1e-8, weightDecay = 0.01, clip = 1.0 } = {}) {
  const m = {};
  const v = {};
  for (const [name, p] of Object.entries(params)) {
    m[name] = tf.variable(tf.zerosLike(p), false);
    v[name] = tf.variable(tf.zerosLike(p), false);
  }
  let t = 0;
  return (grads) => {
    t++;
    tf.tidy(() => {
      const norm = tf.sqrt(tf.addN(Object.values(grads).map((g) => tf.sum(tf.square(g)))));
      const scale = tf.minimum(1, tf.div(clip, tf.add(norm, 1e-6)));
      const c1 = 1 - beta1 ** t;
      const c2 = 1 - beta2 ** t;
      for (const [name, p] of Object.entries(params)) {
        const g = tf.mul(grads[name], scale);
        m[name].assign(tf.add(tf.mul(m[name], beta1), tf.mul(g, 1 - beta1)));
        v[name].assign(tf.add(tf.mul(v[name], beta2), tf.mul(tf.square(g), 1 - beta2)));
        const update = tf.div(tf.div(m[name], c1), tf.add(tf.sqrt(tf.div(v[name], c2)), eps));
        p.assign(tf.sub(tf.mul(p, 1 - lr * weightDecay), tf.mul(update, lr)));
      }
    });
  };
}
