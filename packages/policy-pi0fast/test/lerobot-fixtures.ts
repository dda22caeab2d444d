/** LeRobot-written reference files (shared/lerobot/): beside the repository, in the workplace, or at $CRAFT_LEROBOT_DIR. */
import { existsSync } from "node:fs";

const besideRepo = new URL("../../../../shared/lerobot/", import.meta.url).pathname;
export const LEROBOT_FIXTURES = process.env.CRAFT_LEROBOT_DIR
  ? `${process.env.CRAFT_LEROBOT_DIR.replace(/\/$/, "")}/`
  : ([besideRepo, "/work/shared/lerobot/"].find((dir) => existsSync(dir)) ?? besideRepo);

/** config.json written by LeRobot's own PI0FastConfig._save_pretrained (see shared/lerobot/README.md). */
export const LEROBOT_PI0FAST_CONFIG = `${LEROBOT_FIXTURES}pi0_fast/config.json`;
