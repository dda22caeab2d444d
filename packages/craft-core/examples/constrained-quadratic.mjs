#!/usr/bin/env node
// CRaFT on two quadratics, with nothing but Float32Arrays: the task loss ½‖x − a‖² pulls x away
// from the "pretrained" point b, the retention loss ½‖x − b‖² must stay below a decaying ε, and
// the multiplier λ is found by dual ascent. Prints λ, ε and both losses every 10 steps.
//
//   npm run build -w @craft/craft-core
//   node packages/craft-core/examples/constrained-quadratic.mjs [--craft.<field>=<value> ...]
//
// e.g. --craft.lambda_update=pid --craft.pid_kp=1 --craft.pid_ki=1, or --craft.epsilon_end=1.
// Analytic answer for a constant ε: λ* = ‖a − b‖/√(2ε) − 1, here λ* = 2 at ε = 0.5.
import { isLeft } from "fp-ts/lib/Either.js";
import {
  applyCraftOverrides,
  craftStep,
  float32Space,
  formatCraftConfigErrors,
  initialCraftState,
  makeCraftConfig,
} from "../dist/index.js";

const STEPS = 200;
const LEARNING_RATE = 0.1;

const base = makeCraftConfig({
  enable: true,
  // Plain Lagrangian: on this collinear problem project_task would cancel the task gradient outright.
  surgery: "none",
  initial_lambda: 0,
  lambda_lr: 0.5,
  epsilon_schedule: "linear",
  epsilon_start: 2,
  epsilon_end: 0.5,
  epsilon_decay_steps: 100,
});
const parsed = applyCraftOverrides(base, process.argv.slice(2));
if (isLeft(parsed)) {
  console.error(formatCraftConfigErrors(parsed.left, "command-line flags"));
  process.exit(2);
}
const config = parsed.right;

const taskMinimiser = Float32Array.from([3, 1, 0]); // a
const pretrained = Float32Array.from([0, 1, 0]); // b, where training starts
const halfSquaredDistance = (x, m) => x.reduce((s, v, i) => s + (v - m[i]) ** 2, 0) / 2;
const gradientTowards = (x, m) => x.map((v, i) => v - m[i]);

const step = craftStep(config, float32Space, STEPS);
let state = initialCraftState(config);
let x = pretrained.slice();
console.log(`surgery=${config.surgery} merge=${config.merge} lambda_update=${config.lambda_update} steps=${STEPS}`);
console.log(" step   lambda  epsilon  task_loss  retention_loss  conflict");
for (let t = 0; t < STEPS; t++) {
  const retentionLoss = halfSquaredDistance(x, pretrained);
  const { grad, metrics, state: next } = step(state, {
    gTask: gradientTowards(x, taskMinimiser),
    gRetain: gradientTowards(x, pretrained),
    retentionLoss,
    step: t,
  });
  if (t % 10 === 0 || t === STEPS - 1) {
    const row = [
      String(t).padStart(5),
      metrics.lambda.toFixed(4).padStart(8),
      metrics.epsilon.toFixed(4).padStart(8),
      halfSquaredDistance(x, taskMinimiser).toFixed(4).padStart(10),
      retentionLoss.toFixed(4).padStart(15),
      String(metrics.conflict).padStart(9),
    ];
    console.log(row.join(" "));
  }
  state = next;
  x = float32Space.axpy(x, -LEARNING_RATE, grad);
}
const finalRetention = halfSquaredDistance(x, pretrained);
const epsilon = config.epsilon_schedule === "constant" ? config.epsilon_start : config.epsilon_end;
console.log(
  `final: lambda=${state.lambda.lambda.toFixed(4)} task_loss=${halfSquaredDistance(x, taskMinimiser).toFixed(4)} ` +
    `retention_loss=${finalRetention.toFixed(4)} epsilon=${epsilon} ` +
    `(within ${((100 * Math.abs(finalRetention - epsilon)) / epsilon).toFixed(2)}% of epsilon)`,
);
