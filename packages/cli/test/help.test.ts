import { readFileSync } from "node:fs";
import { craftConfigDocs, defaultCraftConfig } from "@craft/craft-core";
import { defaultTrainConfig, trainConfigDocs, wandbConfigDocs } from "@craft/trainer";
import { describe, expect, it } from "vitest";
import { policyConfigDocs, policyNestedConfigDocs } from "@craft/policy-pi0fast";
import { ENV_EVAL_FLAGS, EVAL_FLAGS } from "../src/commands/eval.js";
import { COMMAND_HELP, craftFlagTable, policyFlagTable, runFlagTable } from "../src/help.js";
import { DEFAULT_POLICY, TRAIN_FLAGS } from "../src/runConfig.js";
import { DATASET_FIELDS, ENV_FIELDS, EVAL_COMMAND_FIELDS, EVAL_FIELDS, LEROBOT_DATASET_FIELDS, LEROBOT_FIELDS, RUN_FIELDS, TOKENIZER_FIELDS } from "../src/runSections.js";

const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
const README = new URL("../README.md", import.meta.url).pathname;

describe("flag docs generated from the config codecs", () => {
  it("craft train-craft --help lists every craft field with its default and meaning", () => {
    const help = COMMAND_HELP["train-craft"];
    for (const d of craftConfigDocs) {
      const value = typeof d.default === "string" ? d.default : JSON.stringify(d.default);
      expect(help).toContain(`--craft.${d.name}=${value}`);
      expect(help).toContain(d.doc);
    }
    expect(help).toContain(`--craft.epsilon_end=${defaultCraftConfig.epsilon_end}`);
  });

  it("craft train --help shows the trainer's and tokenizer's defaults from their declarations", () => {
    const help = COMMAND_HELP.train;
    expect(help).toMatch(new RegExp(`--steps=${defaultTrainConfig.steps} +${escape(trainConfigDocs.steps)}\n`));
    expect(help).toMatch(new RegExp(`--batch_size=${defaultTrainConfig.batch_size} +${escape(trainConfigDocs.batch_size)}\n`));
    expect(help).toMatch(new RegExp(`--tokenizer.vocab_size=1024 +${escape(TOKENIZER_FIELDS.vocab_size.doc)}\n`));
    expect(help).toMatch(new RegExp(`--policy.preset=tiny +${escape(policyConfigDocs.preset)}\n`));
  });

  it("craft train --help gives every policy, dataset, tokenizer and run-level flag its declared meaning", () => {
    const help = COMMAND_HELP.train;
    const policyFlags = TRAIN_FLAGS.filter((f) => /^policy\.[a-z_0-9]+$/.test(f) && f !== "policy.path");
    expect(policyFlags.length).toBeGreaterThan(40);
    for (const flag of policyFlags) {
      const doc = (policyConfigDocs as Record<string, string>)[flag.slice("policy.".length)];
      expect(help).toMatch(new RegExp(`--${escape(flag)}(=\\S*)? +${escape(doc)}\n`));
    }
    for (const [prefix, fields] of [["dataset.", DATASET_FIELDS], ["tokenizer.", TOKENIZER_FIELDS], ["", RUN_FIELDS], ["", LEROBOT_FIELDS]] as const) {
      for (const [key, spec] of Object.entries(fields)) expect(help).toMatch(new RegExp(`--${escape(prefix + key)}(=\\S*)? +${escape(spec.doc)}\n`));
    }
    for (const [key, doc] of Object.entries(wandbConfigDocs)) expect(help).toMatch(new RegExp(`--wandb\\.${key}=\\S+ +${escape(doc)}\n`));
  });

  it("craft train --help gives every nested policy flag (vision, decoder, normalization_mapping) its declared meaning and tiny default", () => {
    const help = COMMAND_HELP.train;
    const nested = TRAIN_FLAGS.filter((f) => /^policy\.(vision|decoder|normalization_mapping)\./.test(f));
    expect(nested).toHaveLength(6 + 7 + 3);
    for (const flag of nested) {
      const [, group, key] = flag.split(".");
      const doc = (policyNestedConfigDocs as Record<string, Record<string, string>>)[group][key];
      const value = (DEFAULT_POLICY as unknown as Record<string, Record<string, unknown>>)[group][key];
      expect(help).toMatch(new RegExp(`--${escape(flag)}=${escape(String(value))} +${escape(doc)}\n`));
    }
    expect(help).toMatch(new RegExp(`--dataset\\.image_transforms\\. +${escape(LEROBOT_DATASET_FIELDS.image_transforms.doc)}\n`));
  });

  it("the README's --dataset.*/--tokenizer.*/run flag table is the generated one", () => {
    const text = readFileSync(README, "utf8");
    const table = /<!-- run-flags:begin -->\n([\s\S]*?)\n<!-- run-flags:end -->/.exec(text)?.[1];
    // Regenerate: npm run docs:flags -w @craft/cli.
    expect(table).toBe(runFlagTable());
    expect(table).toContain("| `--tokenizer.vocab_size` | int | `1024` |");
    expect(table).toContain("| `--eval_freq` | int | `null` |");
  });

  it("the README's --policy.* table is the generated one, a row per PI0FastConfig field", () => {
    const text = readFileSync(README, "utf8");
    const table = /<!-- policy-flags:begin -->\n([\s\S]*?)\n<!-- policy-flags:end -->/.exec(text)?.[1];
    // Regenerate: npm run docs:flags -w @craft/cli.
    expect(table).toBe(policyFlagTable());
    const nestedRows = Object.values(policyNestedConfigDocs).reduce((n, group) => n + Object.keys(group).length, 0);
    expect(table?.split("\n")).toHaveLength(2 + Object.keys(policyConfigDocs).length + nestedRows);
    expect(table).toContain(`| \`--policy.chunk_size\` | \`10\` | ${policyConfigDocs.chunk_size} |`);
    expect(table).toContain(`| \`--policy.decoder.kv_heads\` | \`${DEFAULT_POLICY.decoder.kv_heads}\` | ${policyNestedConfigDocs.decoder.kv_heads} |`);
    expect(table).toContain(`| \`--policy.normalization_mapping.STATE\` | \`${DEFAULT_POLICY.normalization_mapping.STATE}\` |`);
  });

  it("the README's --craft.* table is the generated one", () => {
    const text = readFileSync(README, "utf8");
    const table = /<!-- craft-flags:begin -->\n([\s\S]*?)\n<!-- craft-flags:end -->/.exec(text)?.[1];
    // Regenerate: replace the block with the output of craftFlagTable() (src/help.ts).
    expect(table).toBe(craftFlagTable());
  });

  it("craft eval's flag lists are the declared fields, in the order --help lists them", () => {
    expect(ENV_EVAL_FLAGS).toEqual([
      "policy.path",
      "policy.device",
      ...Object.keys(ENV_FIELDS).map((k) => `env.${k}`),
      ...Object.keys(EVAL_FIELDS).map((k) => `eval.${k}`),
      "eval.max_episodes_rendered",
      "output_dir",
      "seed",
      "rename_map",
    ]);
    expect(EVAL_FLAGS).toEqual([
      "policy.path",
      "policy.device",
      "dataset.root",
      "dataset.repo_id",
      "dataset.exclude",
      "dataset.episodes",
      "craft.anchor_dataset_path",
      "batch_size",
      "max_frames",
      "output",
      "rename_map",
    ]);
    expect(COMMAND_HELP.eval).toContain(ENV_EVAL_FLAGS.map((f) => `  --${f}`).join("\n"));
    expect(EVAL_COMMAND_FIELDS.max_episodes_rendered.default).toBe(10);
  });
});
