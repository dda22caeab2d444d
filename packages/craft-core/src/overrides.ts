import * as E from "fp-ts/lib/Either.js";
import { decodeCraftConfig, type CraftConfig } from "./config.js";

/**
 * A flag value as LeRobot/draccus users write it: JSON numbers, booleans and null become those
 * values (`2`, `1e-3`, `true`, `null`), a JSON string literal is unquoted, anything else stays the
 * raw string (`pcgrad`, `./data/anchor`).
 */
export const parseFlagValue = (raw: string): unknown => {
  try {
    const parsed: unknown = JSON.parse(raw);
    if (parsed === null || typeof parsed === "number" || typeof parsed === "boolean" || typeof parsed === "string") {
      return parsed;
    }
  } catch {
    // Not JSON: a bare word or a path.
  }
  return raw;
};

/**
 * Collect `--craft.<field>=<value>` (leading dashes optional) from a command line into a plain
 * object: `["--craft.initial_lambda=2", "craft.surgery=pcgrad"]` → `{ initial_lambda: 2, surgery:
 * "pcgrad" }`. Arguments outside `prefix` are ignored, so a whole argv can be passed; a later flag
 * overrides an earlier one. Field names and values are checked by `decodeCraftConfig`.
 */
export const parseDottedOverrides = (
  args: readonly string[],
  prefix = "craft",
): E.Either<string[], Record<string, unknown>> => {
  const overrides: Record<string, unknown> = {};
  const errors: string[] = [];
  const head = `${prefix}.`;
  for (const arg of args) {
    const flag = arg.replace(/^--?/, "");
    if (!flag.startsWith(head)) continue;
    const equals = flag.indexOf("=");
    if (equals < 0) {
      errors.push(`${arg}: expected ${prefix}.<field>=<value>`);
      continue;
    }
    const key = flag.slice(head.length, equals);
    if (key === "" || key.includes(".")) {
      errors.push(`${flag.slice(0, equals)}: expected one field name after "${head}" (the ${prefix} config is flat)`);
      continue;
    }
    // defineProperty: a key such as "__proto__" must land as a field (and be rejected as unknown).
    Object.defineProperty(overrides, key, {
      value: parseFlagValue(flag.slice(equals + 1)),
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return errors.length > 0 ? E.left(errors) : E.right(overrides);
};

/** `base` with the `--craft.*` flags of `args` applied, validated as a whole. */
export const applyCraftOverrides = (
  base: CraftConfig,
  args: readonly string[],
  prefix = "craft",
): E.Either<string[], CraftConfig> => {
  const overrides = parseDottedOverrides(args, prefix);
  return E.isLeft(overrides) ? overrides : decodeCraftConfig({ ...base, ...overrides.right }, prefix);
};
