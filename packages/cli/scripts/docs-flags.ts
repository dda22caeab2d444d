/** `npm run docs:flags`: rewrites the README's generated flag table from the config codecs (test/help.test.ts checks it). */
import { readFileSync, writeFileSync } from "node:fs";
import { craftFlagTable } from "../src/help.js";

const readme = new URL("../README.md", import.meta.url).pathname;
const block = /<!-- craft-flags:begin -->\n[\s\S]*?<!-- craft-flags:end -->/;
const text = readFileSync(readme, "utf8");
if (!block.test(text)) throw new Error(`${readme}: expected the <!-- craft-flags:begin --> … <!-- craft-flags:end --> block`);
writeFileSync(readme, text.replace(block, `<!-- craft-flags:begin -->\n${craftFlagTable()}\n<!-- craft-flags:end -->`));
