export type { BroadcastBuffer, Communicator, RankProcess, ScalarReduction } from "./communicator.js";
export { detectLaunchEnvironment, type LaunchEnvironment } from "./detect.js";
export {
  DEFAULT_COLLECTIVE_TIMEOUT_S,
  initDistributed,
  runDistributed,
  type DistributedMode,
  type DistributedOptions,
} from "./init.js";
export { singleProcessCommunicator } from "./single.js";
