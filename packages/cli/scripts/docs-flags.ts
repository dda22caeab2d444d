/** `npm run docs:flags`: rewrites the README's generated flag tables from the config declarations (test/help.test.ts checks them). */
import { readFileSync, writeFileSync } from "node:fs";
import { craftFlagTable, policyFlagTable, runFlagTable } from "../src/help.js";

const readme = new URL("../README.md", import.meta.url).pathname;
const tables: Record<string, string> = { "craft-flags": craftFlagTable(), "run-flags": runFlagTable(), "policy-flags": policyFlagTable() };
let text = readFileSync(readme, "utf8");
for (const [name, table] of Object.entries(tables)) {
  const block = new RegExp(`<!-- ${name}:begin -->\\n[\\s\\S]*?<!-- ${name}:end -->`);
  if (!block.test(text)) throw new Error(`${readme}: expected the <!-- ${name}:begin --> … <!-- ${name}:end --> block`);
  text = text.replace(block, () => `<!-- ${name}:begin -->\n${table}\n<!-- ${name}:end -->`);
}
writeFileSync(readme, text);
