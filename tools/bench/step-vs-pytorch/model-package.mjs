// One build of @craft/policy-pi0fast as these benchmarks use it: its public entry (index.js: the
// config) and its documented `model` sub-path beside it (model.js: parameterShapes, initParameters,
// actionLoss), merged into one namespace.
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { pathToFileURL } from "node:url";

export async function importModelPackage(indexJs) {
  const modelJs = join(dirname(indexJs), "model.js");
  if (!existsSync(modelJs)) throw new Error(`${modelJs}: not found beside ${indexJs} (build the package's "./model" entry, src/model-index.ts)`);
  return { ...(await import(pathToFileURL(indexJs).href)), ...(await import(pathToFileURL(modelJs).href)) };
}
