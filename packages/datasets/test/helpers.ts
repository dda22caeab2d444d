import { existsSync, mkdtempSync, rmSync, cpSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll } from "vitest";

/**
 * The real LeRobot v3.0 dataset shared by all packages (read-only): $CRAFT_SO101_DIR, else
 * `../shared/datasets/` beside the repository, else the workplace's copy.
 */
const besideRepo = fileURLToPath(new URL("../../../../shared/datasets/so101-pick-orange-cube", import.meta.url));
export const SO101 =
  process.env.CRAFT_SO101_DIR ??
  [besideRepo, "/work/shared/datasets/so101-pick-orange-cube"].find((dir) => existsSync(dir)) ??
  besideRepo;
export const SO101_VIDEO_KEYS = ["observation.images.front", "observation.images.top"];

/** A temp directory removed after the test file. */
export const tempDir = (prefix: string): string => {
  const dir = mkdtempSync(join(tmpdir(), `craft-ds-${prefix}-`));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
};

/** A writable copy of the real dataset (never corrupt /work/shared in place). */
export const so101Copy = (): string => {
  const dir = join(tempDir("so101"), "so101");
  cpSync(SO101, dir, { recursive: true });
  return dir;
};

/** Resolve with the thrown error, failing if nothing was thrown. */
export const caught = async (f: () => unknown): Promise<Error & Record<string, unknown>> => {
  try {
    await f();
  } catch (e) {
    return e as Error & Record<string, unknown>;
  }
  throw new Error("expected an error, none was thrown");
};
