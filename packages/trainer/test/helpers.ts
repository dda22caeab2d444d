import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { Writable } from "node:stream";
import * as E from "fp-ts/lib/Either.js";
import { decodeTrainConfig, type TrainConfig, type TrainMetrics } from "../src/index.js";

export const tmpDir = (prefix = "trainer-"): string => mkdtempSync(path.join(tmpdir(), prefix));

/** A validated config for the tiny regression runs (deep-partial overrides). */
export const config = (overrides: Record<string, unknown>): TrainConfig => {
  const decoded = decodeTrainConfig({
    steps: 20,
    batch_size: 8,
    log_freq: 1,
    save_freq: 1000,
    seed: 3,
    grad_clip_norm: 0,
    optimizer: { lr: 0.05, betas: [0.9, 0.999], eps: 1e-8, weight_decay: 0.0 },
    ...overrides,
  });
  if (E.isLeft(decoded)) throw new Error(decoded.left.join("\n"));
  return decoded.right;
};

/** A stream that swallows the progress display (and keeps it for assertions). */
export const sink = (isTTY = false): Writable & { isTTY: boolean; text: () => string } => {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk, _encoding, callback) {
      chunks.push(String(chunk));
      callback();
    },
  }) as Writable & { isTTY: boolean; text: () => string };
  stream.isTTY = isTTY;
  stream.text = () => chunks.join("");
  return stream;
};

/** Collects metrics through the onMetrics hook. */
export const collector = (): { metrics: TrainMetrics[]; onMetrics: (m: TrainMetrics) => void } => {
  const metrics: TrainMetrics[] = [];
  return { metrics, onMetrics: (m) => metrics.push(m) };
};
