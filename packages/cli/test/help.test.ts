import { readFileSync } from "node:fs";
import { craftConfigDocs, defaultCraftConfig } from "@craft/craft-core";
import { defaultTrainConfig, trainConfigDocs } from "@craft/trainer";
import { describe, expect, it } from "vitest";
import { COMMAND_HELP, craftFlagTable } from "../src/help.js";

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
    expect(help).toContain("--tokenizer.vocab_size=1024\n");
    expect(help).toContain("--policy.preset=tiny\n");
  });

  it("the README's --craft.* table is the generated one", () => {
    const text = readFileSync(README, "utf8");
    const table = /<!-- craft-flags:begin -->\n([\s\S]*?)\n<!-- craft-flags:end -->/.exec(text)?.[1];
    // Regenerate: replace the block with the output of craftFlagTable() (src/help.ts).
    expect(table).toBe(craftFlagTable());
  });
});
