import * as E from "fp-ts/lib/Either.js";
import { decodeCraftConfig, type CraftConfig } from "./config.js";

/**
 * A flag value as LeRobot/draccus users write it — the one rule set of every craft command line
 * (the cli's parser uses this function): `true`/`false`/`null` and numbers become those values
 * (`2`, `1e-3`, `-0.5`), a JSON array or object (`[224, 224]`, `{"a": "b"}`) is parsed, a JSON
 * string literal is unquoted, and anything else stays the raw string (`pcgrad`, `./data/anchor`).
 */
export const parseFlagValue = (raw: string): unknown => {
  const trimmed = raw.trim();
  if (trimmed === "") return "";
  if (/^(true|false|null)$/.test(trimmed)) return JSON.parse(trimmed) as unknown;
  if (/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(trimmed)) return Number(trimmed);
  if (/^[[{"]/.test(trimmed)) {
    try {
      return JSON.parse(trimmed) as unknown;
    } catch {
      // Not JSON after all (e.g. "[oops"): kept as the raw string, for the decoder to name.
    }
  }
  return raw;
};

/**
 * Collect `--craft.<field>=<value>` (leading dashes optional) from a command line into a plain
 * object: `["--craft.initial_lambda=2", "craft.surgery=pcgrad"]` → `{ initial_lambda: 2, surgery:
 * "pcgrad" }`. Arguments outside `prefix` are ignored, so a whole argv can be passed; a flag given
 * twice is an error, as on the cli. Field names and values are checked by `decodeCraftConfig`.
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
    if (Object.prototype.hasOwnProperty.call(overrides, key)) {
      errors.push(`--${head}${key} given twice`);
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
