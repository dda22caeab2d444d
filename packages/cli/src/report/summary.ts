import { readFile } from "node:fs/promises";
import * as t from "io-ts";
import { isLeft } from "fp-ts/lib/Either.js";
import { ReportError } from "./errors";

/**
 * summary.json of `craft experiment retention`, declared once: the experiment builds a value of
 * this type and the report decodes it with this codec. Older summaries (losses only, one pair)
 * still decode: every measurement and every addition is optional.
 */

/** Final measurements per run (issue 6, step 4; the closed-loop success rates of issue 14, part 4). */
export const SUMMARY_KEYS = [
  "anchor_loss_base",
  "anchor_loss_final",
  "task_loss_final",
  "anchor_action_mse",
  "task_action_mse",
  /** KL(base ‖ policy) per action token on the anchor cache, nats (0 for the base itself). */
  "anchor_kl_final",
  /** The run's retention bound: nats of KL for CRaFT's distill runs, token loss for craft_token; null without one. */
  "epsilon_end",
  "anchor_success_base",
  "anchor_success",
  "task_success_base",
  "task_success",
] as const;

export type SummaryKey = (typeof SUMMARY_KEYS)[number];

const OptionalNumber = t.union([t.number, t.null]);

const measurementProps = Object.fromEntries(SUMMARY_KEYS.map((k) => [k, OptionalNumber])) as Record<
  SummaryKey,
  typeof OptionalNumber
>;

const Measurements = t.partial(measurementProps);

/** Closed-loop episode outcomes (rollout.ts's RolloutOutcome), counted per evaluation. */
const OutcomeCounts = t.type({ success: t.number, other_target: t.number, timeout: t.number, invalid_decode: t.number, nan: t.number });

/** Per environment of a pair: `anchor` (task A's instruction) and `task` (task B's). */
const PerEnv = <C extends t.Mixed>(codec: C) => t.partial({ anchor: codec, task: codec });

const SeedResult = t.intersection([
  t.type({ seed: t.number }),
  t.partial({
    ...measurementProps,
    run_dir: t.union([t.string, t.null]),
    /** Closed-loop episodes per environment. */
    n_episodes: t.number,
    outcomes: PerEnv(OutcomeCounts),
    outcomes_base: PerEnv(OutcomeCounts),
    /** One rollout GIF per environment, relative to the experiment directory. */
    gifs: PerEnv(t.string),
    gifs_base: PerEnv(t.string),
  }),
]);

const MethodSummary = t.partial({
  seeds: t.array(SeedResult),
  mean: Measurements,
  std: Measurements,
});

/** One point of a sweep: the swept value and the run (a method's name, or the sweep's own run). */
const SweepPoint = t.intersection([t.type({ value: t.number, run: t.string }), MethodSummary]);

const Expectation = t.intersection([
  t.type({ name: t.string, passed: t.boolean }),
  t.partial({ pair: t.string, measured: t.union([t.number, t.null]), threshold: t.number, detail: t.unknown }),
]);

/** The environment a task is measured in (LeRobot's env.type and env.task) and the dataset it was trained from. */
const TaskRef = t.type({ dataset: t.string, env_type: t.string, env_task: t.union([t.string, t.null]), instruction: t.string });

/** One anchor → task pair: the methods, the sweeps (parameter → points) and the pair's expectations. */
const PairSummary = t.intersection([
  t.type({ methods: t.record(t.string, MethodSummary) }),
  t.partial({
    anchor: TaskRef,
    task: TaskRef,
    sweeps: t.record(t.string, t.array(SweepPoint)),
    expectations: t.array(Expectation),
    eval_seed: t.number,
    n_episodes: t.number,
  }),
]);

/**
 * The top level is the reach → push pair as earlier summaries had it (`methods`), `pairs` every pair
 * in the order run, and `expectations` every pair's verdicts (each naming its pair).
 */
export const ExperimentSummaryCodec = t.intersection([
  t.type({ methods: t.record(t.string, MethodSummary) }),
  t.partial({ configs: t.unknown, expectations: t.array(Expectation), pairs: t.record(t.string, PairSummary) }),
]);

export type ExperimentSummary = t.TypeOf<typeof ExperimentSummaryCodec>;
export type PairResult = t.TypeOf<typeof PairSummary>;
export type MethodResult = t.TypeOf<typeof MethodSummary>;
export type SweepPointResult = t.TypeOf<typeof SweepPoint>;
export type SeedMeasurement = t.TypeOf<typeof SeedResult>;
export type ExpectationResult = t.TypeOf<typeof Expectation>;
export type OutcomeCount = t.TypeOf<typeof OutcomeCounts>;
export type TaskReference = t.TypeOf<typeof TaskRef>;

function describeActual(value: unknown): string {
  if (value === undefined) return "nothing (field missing)";
  return typeof value === "object" ? JSON.stringify(value) : `${typeof value} ${String(value)}`;
}

export function decodeSummary(raw: unknown, path: string): ExperimentSummary {
  const result = ExperimentSummaryCodec.decode(raw);
  if (!isLeft(result)) return result.right;
  const [first] = result.left;
  // Intersections and unions add their member index as a context key; those are not fields.
  const field =
    first.context
      .filter((entry, i) => {
        const parent = first.context[i - 1]?.type;
        return i > 0 && !(parent instanceof t.IntersectionType || parent instanceof t.UnionType);
      })
      .map((entry) => entry.key)
      .join(".") || "(root)";
  const expected = first.context[first.context.length - 1]?.type.name ?? "a valid summary";
  throw new ReportError({
    _tag: "InvalidField",
    path,
    field,
    expected,
    actual: describeActual(first.value),
  });
}

export async function readSummary(path: string): Promise<ExperimentSummary> {
  const text = await readFile(path, "utf8");
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new ReportError({ _tag: "InvalidJson", path, reason: (err as Error).message });
  }
  return decodeSummary(raw, path);
}
