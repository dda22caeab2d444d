/**
 * Flags of LeRobot's `TrainPipelineConfig` (configs/train.py) that craft accepts so a LeRobot
 * command line runs unchanged: `--job_name`, `--rename_map`, `--num_workers`, `--eval_freq` (in effect
 * with `--env.type`, see envFlags.ts), `--dataset.image_transforms.*`. Those with no effect here are
 * accepted with a one-line notice.
 * (`--policy.pretrained_path`, an alias of `--policy.path`, is folded in by hubFlags.ts;
 * `--policy.{dtype,push_to_hub,repo_id,…}` are PI0FastConfig fields.)
 */
import * as E from "fp-ts/lib/Either.js";
import { LEROBOT_FIELDS, decodeSection } from "./runSections.js";

export const LEROBOT_TRAIN_FLAGS: readonly string[] = [
  "job_name",
  "rename_map",
  "num_workers",
  "eval_freq",
  "dataset.image_transforms.",
  "dataset.revision",
  "policy.pretrained_path",
];

export interface LeRobotRunFlags {
  readonly job_name: string | null;
  /** Observation key → key the policy expects (LeRobot's rename_map), passed to the dataset spec. */
  readonly rename_map: Readonly<Record<string, string>>;
  readonly num_workers: number | null;
  readonly eval_freq: number | null;
  readonly image_transforms: Readonly<Record<string, unknown>>;
  /** Upload the final pretrained_model/ here (policy.push_to_hub with policy.repo_id). */
  readonly push: { readonly repo_id: string; readonly private: boolean } | null;
  readonly notices: readonly string[];
}

const isRecord = (u: unknown): u is Record<string, unknown> => typeof u === "object" && u !== null && !Array.isArray(u);

/** `--rename_map` (train and eval): a JSON object of key renames; absent = {}. */
export function renameMapOf(raw: unknown, problems: string[]): Record<string, string> {
  const decoded = decodeSection({ rename_map: LEROBOT_FIELDS.rename_map }, { rename_map: raw }, "");
  if (E.isLeft(decoded)) problems.push(...decoded.left);
  return E.isRight(decoded) ? { ...decoded.right.rename_map } : {};
}

/**
 * Read LeRobot's run-level flags out of the nested flags (they are removed from `nested`), and
 * the push-to-Hub request from the policy flags (`pushToHub`/`repoId`: the flag, else the config).
 */
export function takeLeRobotFlags(
  nested: Record<string, unknown>,
  policy: { readonly push_to_hub?: unknown; readonly repo_id?: unknown; readonly private?: unknown; readonly explicitPush: boolean },
  problems: string[],
): LeRobotRunFlags {
  const notices: string[] = [];
  const decoded = decodeSection(LEROBOT_FIELDS, nested, "");
  for (const key of Object.keys(LEROBOT_FIELDS)) delete nested[key];
  if (E.isLeft(decoded)) problems.push(...decoded.left);
  const { job_name: jobName, rename_map: renameMap, num_workers: numWorkers, eval_freq: evalFreq } = E.isRight(decoded)
    ? decoded.right
    : { job_name: null, rename_map: {}, num_workers: null, eval_freq: null };
  if (numWorkers !== null) notices.push(`--num_workers=${numWorkers}: accepted for LeRobot compatibility; craft reads frames in-process with prefetch, so it has no effect`);

  // With --env.type the run evaluates in that environment every eval_freq steps (envFlags.ts); without, as LeRobot on real data, it cannot.
  const hasEnv = isRecord(nested.env) && nested.env.type !== undefined;
  if (evalFreq !== null && evalFreq > 0 && !hasEnv) {
    notices.push(`--eval_freq=${evalFreq}: accepted; without --env.type there is no environment to evaluate in during training (give --env.type=reach|push|two_target, or run craft eval --env.type=… on the checkpoints)`);
  }

  const dataset = isRecord(nested.dataset) ? nested.dataset : {};
  const transforms = dataset.image_transforms ?? {};
  delete dataset.image_transforms;
  delete dataset.revision;
  let imageTransforms: Record<string, unknown> = {};
  if (!isRecord(transforms)) problems.push(`dataset.image_transforms: expected LeRobot's ImageTransformsConfig fields, got ${JSON.stringify(transforms)}`);
  else {
    imageTransforms = transforms;
    if (transforms.enable === true) notices.push("--dataset.image_transforms.enable=true: image augmentations are not implemented in craft; frames are used as recorded");
  }

  let push: LeRobotRunFlags["push"] = null;
  if (policy.push_to_hub === true) {
    if (typeof policy.repo_id === "string" && policy.repo_id !== "") push = { repo_id: policy.repo_id, private: policy.private === true };
    // LeRobot refuses this pair (its default push_to_hub is true); a saved train_config.json carries
    // that default, so here it is a notice, not an error.
    else if (policy.explicitPush) notices.push("--policy.push_to_hub=true without --policy.repo_id=ORG/NAME: nothing will be uploaded");
  }
  return {
    job_name: jobName,
    rename_map: renameMap,
    num_workers: numWorkers,
    eval_freq: evalFreq,
    image_transforms: imageTransforms,
    push,
    notices,
  };
}

