import { readFile } from "node:fs/promises";
import * as t from "io-ts";
import { isLeft } from "fp-ts/lib/Either.js";
import { ReportError } from "./errors";

/** Final measurements per run that the retention experiment writes (issue 6, step 4). */
export const SUMMARY_KEYS = [
  "anchor_loss_base",
  "anchor_loss_final",
  "task_loss_final",
  "anchor_action_mse",
  "task_action_mse",
  "epsilon_end",
] as const;

export type SummaryKey = (typeof SUMMARY_KEYS)[number];

const OptionalNumber = t.union([t.number, t.null]);

const measurementProps = Object.fromEntries(SUMMARY_KEYS.map((k) => [k, OptionalNumber])) as Record<
  SummaryKey,
  typeof OptionalNumber
>;

const Measurements = t.partial(measurementProps);

const SeedResult = t.intersection([
  t.type({ seed: t.number }),
  t.partial({ ...measurementProps, run_dir: t.union([t.string, t.null]) }),
]);

const MethodSummary = t.partial({
  seeds: t.array(SeedResult),
  mean: Measurements,
  std: Measurements,
});

const Expectation = t.intersection([
  t.type({ name: t.string, passed: t.boolean }),
  t.partial({ detail: t.unknown }),
]);

export const ExperimentSummaryCodec = t.intersection([
  t.type({ methods: t.record(t.string, MethodSummary) }),
  t.partial({ configs: t.unknown, expectations: t.array(Expectation) }),
]);

export type ExperimentSummary = t.TypeOf<typeof ExperimentSummaryCodec>;
export type MethodResult = t.TypeOf<typeof MethodSummary>;
export type SeedMeasurement = t.TypeOf<typeof SeedResult>;
export type ExpectationResult = t.TypeOf<typeof Expectation>;

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
