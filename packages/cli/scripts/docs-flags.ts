/** `npm run docs:flags`: rewrites the README's generated flag table from the config codecs (test/help.test.ts checks it). */
import { readFileSync, writeFileSync } from "node:fs";
import { craftFlagTable, runFlagTable } from "../src/help.js";

const readme = new URL("../README.md", import.meta.url).pathname;
const tables: Record<string, string> = { "craft-flags": craftFlagTable(), "run-flags": runFlagTable() };
let text = readFileSync(readme, "utf8");
for (const [name, table] of Object.entries(tables)) {
  const block = new RegExp(`<!-- ${name}:begin -->\\n[\\s\\S]*?<!-- ${name}:end -->`);
  if (!block.test(text)) throw new Error(`${readme}: expected the <!-- ${name}:begin --> … <!-- ${name}:end --> block`);
  text = text.replace(block, () => `<!-- ${name}:begin -->\n${table}\n<!-- ${name}:end -->`);
}
writeFileSync(readme, text);
