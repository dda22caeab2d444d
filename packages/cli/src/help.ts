import { DATASET_FLAGS } from "./commands/dataset.js";
import { ENV_EVAL_FLAGS, EVAL_FLAGS } from "./commands/eval.js";
import { EXPERIMENT_FLAGS } from "./commands/experiment.js";
import { REPORT_FLAGS } from "./commands/report.js";
import { TOKENIZER_FLAGS } from "./commands/tokenizer.js";
import { craftConfigDocs } from "@craft/craft-core";
import { SYNTHETIC_TASKS, TARGET_COLORS } from "@craft/datasets";
import { policyConfigDocs, policyNestedConfigDocs } from "@craft/policy-pi0fast";
import { trainConfigDocs, wandbConfigDocs } from "@craft/trainer";
import { DEFAULT_POLICY, TRAIN_FLAG_DEFAULTS, TRAIN_FLAGS } from "./runConfig.js";
import {
  DATASET_FIELDS,
  ENV_FIELDS,
  EVAL_FIELDS,
  LEROBOT_DATASET_FIELDS,
  LEROBOT_FIELDS,
  POLICY_FIELDS,
  RUN_FIELDS,
  TOKENIZER_FIELDS,
  sectionDocs,
  type FlagDoc,
} from "./runSections.js";

const list = (flags: readonly string[]) => flags.map((f) => `  --${f}`).join("\n");

const shown = (value: unknown) => (typeof value === "string" ? value : JSON.stringify(value));

/** The run's sections as declared (runSections.ts): dataset, tokenizer, run-level, LeRobot's run flags, env and eval. */
const RUN_SECTION_DOCS: readonly FlagDoc[] = [
  ...sectionDocs(DATASET_FIELDS, "dataset."),
  ...sectionDocs(TOKENIZER_FIELDS, "tokenizer."),
  ...sectionDocs(RUN_FIELDS, ""),
  ...sectionDocs(LEROBOT_FIELDS, ""),
  ...sectionDocs(LEROBOT_DATASET_FIELDS, "dataset."),
  ...sectionDocs(ENV_FIELDS, "env."),
  ...sectionDocs(EVAL_FIELDS, "eval."),
];

/** Every `--policy.*` field's meaning, the nested groups' fields (`policy.vision.width`, …) right after their group. */
const POLICY_FLAG_DOCS: readonly [string, string][] = Object.entries(policyConfigDocs).flatMap(([field, doc]): [string, string][] => [
  [`policy.${field}`, doc],
  ...Object.entries((policyNestedConfigDocs as Record<string, Record<string, string>>)[field] ?? {}).map(([sub, subDoc]): [string, string] => [`policy.${field}.${sub}`, subDoc]),
]);

/** Each train flag's meaning, from the declaration of its section (policy, dataset, tokenizer, run, trainer). */
const TRAIN_FLAG_DOCS: ReadonlyMap<string, string> = new Map([
  ["config_path", "a saved train_config.json to run again (flags given beside it win)"],
  ["policy.path", POLICY_FIELDS.path.doc],
  ...POLICY_FLAG_DOCS,
  ...RUN_SECTION_DOCS.map((d): [string, string] => [d.flag, d.doc]),
  // A group of LeRobot fields given as `--dataset.image_transforms.*`.
  ...sectionDocs(LEROBOT_DATASET_FIELDS, "dataset.").filter((d) => d.type === "object").map((d): [string, string] => [`${d.flag}.`, d.doc]),
  ...Object.entries(trainConfigDocs),
  ...Object.entries(wandbConfigDocs).map(([field, doc]): [string, string] => [`wandb.${field}`, doc]),
]);

/** Train flags with their defaults where the codecs give one (`--steps=100000`), and their meaning. */
const withDefaults = (flags: readonly string[]) => {
  const lines = flags.map((f) => [TRAIN_FLAG_DEFAULTS.has(f) ? `--${f}=${shown(TRAIN_FLAG_DEFAULTS.get(f))}` : `--${f}`, TRAIN_FLAG_DOCS.get(f) ?? ""]);
  const width = Math.max(...lines.filter(([, doc]) => doc !== "").map(([flag]) => flag.length));
  return lines.map(([flag, doc]) => (doc === "" ? `  ${flag}` : `  ${flag.padEnd(width)}  ${doc}`)).join("\n");
};

/** `--craft.*` flags with their defaults and meaning, generated from craft-core's one declaration. */
export const craftFlagHelp = (): string => {
  const width = Math.max(...craftConfigDocs.map((d) => `--craft.${d.name}=${shown(d.default)}`.length));
  return craftConfigDocs.map((d) => `  ${`--craft.${d.name}=${shown(d.default)}`.padEnd(width)}  ${d.doc}`).join("\n");
};

const flagTable = (rows: readonly FlagDoc[]): string =>
  [
    "| flag | type | default | meaning |",
    "|---|---|---|---|",
    ...rows.map((d) => `| \`--${d.flag}\` | ${d.type.replace(/\|/g, "\\|")} | \`${shown(d.default)}\` | ${d.doc.replace(/\|/g, "\\|")} |`),
  ].join("\n");

/** The README's `--craft.*` table, from the same declaration (test/help.test.ts keeps the README equal to it). */
export const craftFlagTable = (): string => flagTable(craftConfigDocs.map((d) => ({ flag: `craft.${d.name}`, type: d.type, default: d.default, doc: d.doc })));

/** A policy flag's default in the tiny preset (`policy.vision.width` → DEFAULT_POLICY.vision.width). */
const policyDefault = (flag: string): unknown =>
  flag
    .split(".")
    .slice(1)
    .reduce<unknown>((node, key) => (node as Record<string, unknown>)[key], DEFAULT_POLICY);

/** The README's `--policy.*` table: each PI0FastConfig field with its default (tiny preset) and meaning, from policyConfigDocs. */
export const policyFlagTable = (): string =>
  [
    "| flag | default (`--policy.preset=tiny`) | meaning |",
    "|---|---|---|",
    ...POLICY_FLAG_DOCS.map(([flag, doc]) => `| \`--${flag}\` | \`${shown(policyDefault(flag))}\` | ${doc.replace(/\|/g, "\\|")} |`),
  ].join("\n");

/** The README's `--dataset.*`, `--tokenizer.*`, run-level, LeRobot run, `--env.*` and `--eval.*` flag table, from runSections.ts (test/help.test.ts checks it). */
export const runFlagTable = (): string => flagTable(RUN_SECTION_DOCS);

export const GENERAL_HELP = `craft — CRaFT (Constrained Retention Fine-Tuning) for pi0-FAST, in TypeScript

Usage: craft <command> [--flag=value ...]    (flags in LeRobot's dotted style; --help on any command)

Commands:
  quickstart                 the main job on the embedded default: a small pi0-FAST trained on "reach the red
                             target" (and yellow), fine-tuned on "reach the blue target" with CRaFT; losses and closed-loop success
  train                      baseline fine-tuning (LeRobot's lerobot_train)
  train-craft                CRaFT fine-tuning: train with --craft.enable=true and --craft.* flags
  eval                       closed-loop success in a simulated environment (--env.type=reach|push|two_target),
                             or loss and decoded-action error on a task and/or anchor set
  dataset info               what a LeRobot dataset holds and whether its files exist
  dataset make-synthetic     scripted expert episodes in the simulated scenes (--task=${SYNTHETIC_TASKS.join("|")}),
                             or a policy's own (--policy.path): anchors where the policy goes
  dataset build-anchor-cache frames selected from a dataset, stored ready to load, reproducible from a seed
  tokenizer fit              fit the FAST action tokenizer's BPE on a dataset
  experiment retention       naive vs replay vs CRaFT: does the policy keep its old skill?
  policy info                a checkpoint (folder or Hub id): type, variant, parameters and dtype from headers only
  report                     HTML page and PNG figures for a run or experiment directory

Example:
  craft train-craft --policy.type=pi0_fast --dataset.root=./data/task --batch_size=8 --steps=200 \\
    --output_dir=outputs/craft --craft.anchor_dataset_path=./data/anchor \\
    --craft.initial_lambda=1.0 --craft.epsilon_start=1.0 --craft.epsilon_end=0.1
`;

export const COMMAND_HELP: Record<string, string> = {
  train: `craft train — baseline training (no retention constraint)

Usage: craft train --dataset.root=DIR [--policy.preset=tiny] [--steps=N] [--batch_size=8] [--output_dir=DIR] ...
  --policy.path=DIR starts from a checkpoint (its config.json defines the model; optimizer_*/scheduler_*/device may change);
    a Hub id ORG/NAME (or --policy.pretrained_path) is read from the Hugging Face cache, downloaded when missing
  --policy.push_to_hub=true --policy.repo_id=ORG/NAME uploads the last pretrained_model/ after training (HF_TOKEN)
  LeRobot's --job_name, --rename_map, --num_workers, --eval_freq and --dataset.image_transforms.* are accepted
  --env.type=reach|push|two_target [--env.task=${TARGET_COLORS.join("|")}] --eval_freq=N evaluates the policy closed loop every N steps
    (--eval.n_episodes, --eval.batch_size as craft eval): eval/* lines in metrics.jsonl, eval/eval_step_<step>/eval_info.json
  --config_path=train_config.json re-runs a saved configuration (flags given beside it win)
  --resume=true --output_dir=DIR continues the run from its last checkpoint (--steps beyond its step extends it)
  --overwrite=true replaces the run already in --output_dir (otherwise such a directory is refused)
  --distributed=mpi|auto|off data parallel over MPI ranks (auto: when launched by mpiexec/srun)

Accepted flags (shown with their defaults):
${withDefaults(TRAIN_FLAGS.filter((f) => !f.startsWith("craft.")))}
`,
  "train-craft": `craft train-craft — CRaFT: fine-tune on the task while the anchor loss stays under ε

Usage: craft train-craft --dataset.root=DIR --craft.anchor_dataset_path=DIR [--craft.epsilon_end=0.1] ...
Same flags as craft train, plus (shown with their defaults):
${craftFlagHelp()}
`,
  eval: `craft eval — how good a checkpoint is: closed-loop success in simulation, or loss on datasets

In simulation (LeRobot's lerobot-eval): the policy acts closed loop, n_action_steps actions executed per inference
  craft eval --policy.path=DIR --env.type=reach|push|two_target [--env.task=${TARGET_COLORS.join("|")}] [--eval.n_episodes=50]
             [--eval.batch_size=10] [--eval.max_episodes_rendered=10] [--seed=1000] [--output_dir=DIR]
  writes DIR/eval_info.json (per episode: success, outcome success|other_target|timeout|invalid_decode|nan,
  reward, length; the success rate with its 95% Wilson interval) and DIR/videos/eval_episode_{i}.mp4
Accepted flags:
${list(ENV_EVAL_FLAGS)}

On datasets: token loss and decoded-action MSE
  craft eval --policy.path=DIR [--dataset.root=DIR] [--craft.anchor_dataset_path=DIR] [--max_frames=64] [--output=eval.json]
Accepted flags:
${list(EVAL_FLAGS)}
`,
  dataset: `craft dataset info|make-synthetic|build-anchor-cache

  craft dataset info --dataset.root=DIR
${list(DATASET_FLAGS.info)}
  craft dataset make-synthetic --task=${SYNTHETIC_TASKS.join("|")} --episodes=N --output=DIR [--seed=0] [--image_size=64] [--video]
    [--perturbation=P]   (a share P of episodes starts after an unrecorded detour: the expert's way back from off its path)
  craft dataset make-synthetic --task=… --episodes=N --output=DIR --policy.path=DIR   the policy acts in closed loop instead of the expert
${list(DATASET_FLAGS["make-synthetic"])}
  craft dataset build-anchor-cache --dataset.root=DIR --num_samples=N --seed=S --output=DIR [--chunk_size=10]
    [--start_frames=K]   (every episode's first K frames are anchors; the rest stratified as before)
    [--policy.path=BASE [--teacher_top_k=64]]   (store the base's top-k action-token log-probs for --craft.retention_loss=distill)
${list(DATASET_FLAGS["build-anchor-cache"])}
`,
  tokenizer: `craft tokenizer fit --dataset.root=DIR [--vocab_size=1024] [--scale=10] [--chunk_size=10] [--normalization_mode=MEAN_STD] [--output=fast_tokenizer]

Accepted flags:
${list(TOKENIZER_FLAGS)}
`,
  experiment: `craft experiment retention --output_dir=DIR [--preset=smoke|quick|full] [--seeds=[1000,1001]] [--pairs=red_to_blue] [--runs=replay,craft_token]

Two pairs, each "keep skill A while learning skill B": red_to_blue (one scene, only the instruction
differs) and reach_to_push. Per pair and seed it trains a base on A, fine-tunes it on B with every
method (naive, replay, craft, craft_no_surgery, craft_token) and sweep point (CRaFT's ε_end, replay's
weight), runs every policy closed loop in A's and B's environment, and writes DIR/summary.json.
smoke: a micro model, the CI size (not for conclusions); quick: one seed of the quickstart's model;
full: three seeds. --pairs and --runs restrict it (naive and craft always run).

Accepted flags:
${list(EXPERIMENT_FLAGS)}
`,
  report: `craft report --output_dir=DIR — writes DIR/report/index.html and PNG figures (loss, λ/ε, conflicts, comparison table)

Accepted flags:
${list(REPORT_FLAGS)}
`,
};
