import { runDataset } from "./commands/dataset.js";
import { runEval } from "./commands/eval.js";
import { runExperiment } from "./commands/experiment.js";
import { POLICY_HELP, runPolicy } from "./commands/policy.js";
import { runQuickstart, QUICKSTART_HELP } from "./commands/quickstart.js";
import { runReport } from "./commands/report.js";
import { runTokenizer } from "./commands/tokenizer.js";
import { runTrain } from "./commands/train.js";
import { formatError } from "./errors.js";
import { parseArgs, UsageError } from "./flags.js";
import { COMMAND_HELP, GENERAL_HELP } from "./help.js";
import { pushTrainedPolicy, resolveHubFlags } from "./hubFlags.js";

const SUBCOMMANDS = new Set(["dataset", "tokenizer", "experiment", "policy"]);

/** The `craft` binary: returns the process exit code; errors become one readable message. */
export async function main(argv: readonly string[]): Promise<number> {
  try {
    const parsed = parseArgs(argv);
    const [command, sub] = parsed.positionals;
    if (command === undefined) {
      console.log(GENERAL_HELP);
      return parsed.help ? 0 : 1;
    }
    if (parsed.help) {
      const help = command === "quickstart" ? QUICKSTART_HELP : command === "policy" ? POLICY_HELP : COMMAND_HELP[command];
      if (help === undefined) throw new UsageError(`unknown command "${command}"`);
      console.log(help);
      return 0;
    }
    const extra = parsed.positionals.slice(SUBCOMMANDS.has(command) ? 2 : 1);
    if (extra.length > 0) throw new UsageError(`unexpected argument "${extra[0]}": flags take the form --name=value`);
    const args = await resolveHubFlags(parsed);
    switch (command) {
      case "train":
        // --craft.enable=true makes it a CRaFT run once the configuration is decoded.
        await pushTrainedPolicy(await runTrain(args, "train", false));
        return 0;
      case "train-craft":
        await pushTrainedPolicy(await runTrain(args, "train-craft", true));
        return 0;
      case "eval":
        return await runEval(args);
      case "dataset":
        return await runDataset(sub, args);
      case "tokenizer":
        return await runTokenizer(sub, args);
      case "report":
        return await runReport(args);
      case "experiment":
        return await runExperiment(sub, args);
      case "quickstart":
        return await runQuickstart(args);
      case "policy":
        return await runPolicy(sub, args);
      default:
        throw new UsageError(
          `unknown command "${command}": expected one of quickstart, train, train-craft, eval, dataset, tokenizer, experiment, policy, report`,
        );
    }
  } catch (err) {
    console.error(formatError(err));
    return err instanceof UsageError ? 2 : 1;
  }
}
