export { main } from "./main.js";
export { parseArgs, parseValue, toNested, UsageError } from "./flags.js";
export { resolveRunConfig, TRAIN_FLAGS, type RunConfig } from "./runConfig.js";
export { trainWithConfig } from "./commands/train.js";
export { evaluateOn, type EvaluationReport } from "./evaluation.js";
export { writeReport } from "./report/index.js";
