/**
 * JSON text as Python's `json.dumps(value, indent=n)` writes it (what draccus and LeRobot's
 * processor pipeline write): `", "`/`": "` separators, non-ASCII escaped as \uXXXX, and floats in
 * `repr` form (`0.0`, `2.5e-05`, `1e-08`). JavaScript has no int/float distinction, so the caller
 * names the keys whose numbers are Python floats.
 */
export interface PyJsonOptions {
  readonly indent: number;
  /** Keys whose numeric values (or arrays of numbers) are floats in the Python dataclass. */
  readonly floatKeys?: ReadonlySet<string>;
}

/** Python's float repr: shortest round-trip digits, scientific below 1e-4 and from 1e16 on. */
export function pythonFloatRepr(x: number): string {
  if (Number.isNaN(x)) return "NaN";
  if (!Number.isFinite(x)) return x > 0 ? "Infinity" : "-Infinity";
  if (x === 0) return Object.is(x, -0) ? "-0.0" : "0.0";
  const [mantissa, expText] = x.toExponential().split("e");
  const exp = Number(expText);
  const sign = mantissa.startsWith("-") ? "-" : "";
  const digits = mantissa.replace("-", "").replace(".", "");
  if (exp < -4 || exp >= 16) {
    const m = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits;
    const e = Math.abs(exp).toString().padStart(2, "0");
    return `${sign}${m}e${exp < 0 ? "-" : "+"}${e}`;
  }
  if (exp < 0) return `${sign}0.${"0".repeat(-exp - 1)}${digits}`;
  const intPart = digits.slice(0, exp + 1).padEnd(exp + 1, "0");
  const frac = digits.slice(exp + 1);
  return `${sign}${intPart}.${frac === "" ? "0" : frac}`;
}

const pyString = (s: string): string =>
  JSON.stringify(s).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);

export function pythonJsonDumps(value: unknown, options: PyJsonOptions): string {
  const floats = options.floatKeys ?? new Set<string>();
  const pad = (depth: number) => " ".repeat(options.indent * depth);
  const write = (v: unknown, depth: number, isFloat: boolean): string => {
    if (v === null || v === undefined) return "null";
    if (typeof v === "boolean") return v ? "true" : "false";
    if (typeof v === "number") return isFloat ? pythonFloatRepr(v) : Number.isInteger(v) ? String(v) : pythonFloatRepr(v);
    if (typeof v === "string") return pyString(v);
    if (Array.isArray(v)) {
      if (v.length === 0) return "[]";
      const items = v.map((item) => `${pad(depth + 1)}${write(item, depth + 1, isFloat)}`);
      return `[\n${items.join(",\n")}\n${pad(depth)}]`;
    }
    const entries = Object.entries(v as Record<string, unknown>).filter(([, x]) => x !== undefined);
    if (entries.length === 0) return "{}";
    const items = entries.map(([k, x]) => `${pad(depth + 1)}${pyString(k)}: ${write(x, depth + 1, floats.has(k))}`);
    return `{\n${items.join(",\n")}\n${pad(depth)}}`;
  };
  return write(value, 0, false);
}
