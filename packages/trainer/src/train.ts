import type { NamedArrays } from "./interfaces.js";
import { runTraining, type TrainCraftOptions, type TrainOptions, type TrainResult } from "./loop.js";

/** Baseline training (LeRobot's lerobot_train): batch → gradients → clip → AdamW. */
export const train = <B, G = NamedArrays>(options: TrainOptions<B, G>): Promise<TrainResult> =>
  runTraining(options, undefined);

/**
 * CRaFT training (lerobot_train_craft): the same loop with a retention gradient on anchor batches
 * every `craft.retention_freq` steps and craft-core's surgery, merge, ε schedule and λ update.
 */
export const trainCraft = <B, G = NamedArrays>(options: TrainCraftOptions<B, G>): Promise<TrainResult> =>
  runTraining(options, { config: options.config.craft, source: options.anchorSource });
