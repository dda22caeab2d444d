/**
 * Flags of LeRobot's `TrainPipelineConfig` (configs/train.py) that craft accepts so a LeRobot
 * command line runs unchanged: `--job_name`, `--rename_map`, `--num_workers`, `--eval_freq` (in effect
 * with `--env.type`, see envFlags.ts), `--dataset.image_transforms.*`. Those with no effect here are
 * accepted with a one-line notice.
 * (`--policy.pretrained_path`, an alias of `--policy.path`, is folded in by hubFlags.ts;
 * `--policy.{dtype,push_to_hub,repo_id,…}` are PI0FastConfig fields.)
 */
import * as E from "fp-ts/lib/Either.js";
import { LEROBOT_DATASET_FIELDS, LEROBOT_FIELDS, decodeSection, sectionDocs, type PolicySection } from "./runSections.js";

/** The flags of LeRobot's run-level and dataset declarations (runSections.ts); image_transforms takes its fields as `--dataset.image_transforms.*`. */
export const LEROBOT_TRAIN_FLAGS: readonly string[] = [
  ...sectionDocs(LEROBOT_FIELDS, "").map((d) => d.flag),
  ...sectionDocs(LEROBOT_DATASET_FIELDS, "dataset.").map((d) => (d.type === "object" ? `${d.flag}.` : d.flag)),
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
 * The push-to-Hub request of the decoded policy section: its push_to_hub/repo_id/private flags, else
 * the new policy's config (a checkpoint's own are not read here, as LeRobot re-reads them at push).
 */
function pushRequest(policy: PolicySection, notices: string[]): LeRobotRunFlags["push"] {
  const given = policy.overrides;
  const pushToHub = given.push_to_hub ?? policy.config?.push_to_hub;
  const repoId = given.repo_id ?? policy.config?.repo_id;
  if (pushToHub !== true) return null;
  if (typeof repoId === "string" && repoId !== "") return { repo_id: repoId, private: given.private === true };
  // LeRobot refuses this pair (its default push_to_hub is true); a saved train_config.json carries
  // that default, so here it is a notice, not an error.
  if (given.push_to_hub === true) notices.push("--policy.push_to_hub=true without --policy.repo_id=ORG/NAME: nothing will be uploaded");
  return null;
}

/**
 * LeRobot's run-level flags (LEROBOT_FIELDS), its dataset fields craft does not use
 * (LEROBOT_DATASET_FIELDS) and the push-to-Hub request of the decoded policy section; the flags that
 * have no effect here get one notice each.
 */
export function decodeLeRobotFlags(nested: Readonly<Record<string, unknown>>, policy: E.Either<string[], PolicySection>): E.Either<string[], LeRobotRunFlags> {
  const run = decodeSection(LEROBOT_FIELDS, nested, "");
  const dataset = decodeSection(LEROBOT_DATASET_FIELDS, nested.dataset, "dataset.");
  if (E.isLeft(run) || E.isLeft(dataset)) return E.left([...(E.isLeft(run) ? run.left : []), ...(E.isLeft(dataset) ? dataset.left : [])]);
  const notices: string[] = [];
  const { job_name: jobName, rename_map: renameMap, num_workers: numWorkers, eval_freq: evalFreq } = run.right;
  if (numWorkers !== null) notices.push(`--num_workers=${numWorkers}: accepted for LeRobot compatibility; craft reads frames in-process with prefetch, so it has no effect`);

  // With --env.type the run evaluates in that environment every eval_freq steps (envFlags.ts); without, as LeRobot on real data, it cannot.
  const hasEnv = isRecord(nested.env) && nested.env.type !== undefined;
  if (evalFreq !== null && evalFreq > 0 && !hasEnv) {
    notices.push(`--eval_freq=${evalFreq}: accepted; without --env.type there is no environment to evaluate in during training (give --env.type=reach|push|two_target, or run craft eval --env.type=… on the checkpoints)`);
  }
  const imageTransforms = dataset.right.image_transforms;
  if (imageTransforms.enable === true) notices.push("--dataset.image_transforms.enable=true: image augmentations are not implemented in craft; frames are used as recorded");
  const push = E.isRight(policy) ? pushRequest(policy.right, notices) : null;
  return E.right({ job_name: jobName, rename_map: renameMap, num_workers: numWorkers, eval_freq: evalFreq, image_transforms: imageTransforms, push, notices });
}
