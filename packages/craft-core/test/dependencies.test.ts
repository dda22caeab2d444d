import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const packageDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const manifest = JSON.parse(readFileSync(path.join(packageDir, "package.json"), "utf8")) as Record<string, unknown>;

const TENSOR_LIBRARY =
  /(^@tensorflow\/)|tfjs|onnx|torch|^ndarray|numjs|^@xenova\/|^@huggingface\/transformers|^gpu\.js$|^mathjs$|^ml-matrix$|^@webgpu\/|^tensor/i;

const dependencyFields = [
  "dependencies",
  "devDependencies",
  "peerDependencies",
  "optionalDependencies",
  "bundleDependencies",
  "bundledDependencies",
] as const;

const namesIn = (field: unknown): string[] =>
  Array.isArray(field) ? field.map(String) : typeof field === "object" && field !== null ? Object.keys(field) : [];

describe("craft-core stays free of tensor libraries", () => {
  it("package.json lists no tensor library in any dependency field", () => {
    const listed = dependencyFields.flatMap((field) => namesIn(manifest[field]).map((name) => `${field}: ${name}`));
    expect(listed.filter((entry) => TENSOR_LIBRARY.test(entry.split(": ")[1]))).toEqual([]);
  });

  it("its only runtime dependencies are fp-ts and io-ts", () => {
    expect(Object.keys((manifest.dependencies as Record<string, string>) ?? {}).sort()).toEqual(["fp-ts", "io-ts"]);
  });

  it("its sources import nothing but each other, fp-ts and io-ts", () => {
    const srcDir = path.join(packageDir, "src");
    const specifiers = readdirSync(srcDir)
      .filter((file) => file.endsWith(".ts"))
      .flatMap((file) => [...readFileSync(path.join(srcDir, file), "utf8").matchAll(/from\s+"([^"]+)"/g)].map((m) => m[1]));
    expect(specifiers.length).toBeGreaterThan(5);
    expect(specifiers.filter((s) => !s.startsWith("./") && !/^(fp-ts|io-ts)(\/|$)/.test(s))).toEqual([]);
  });

  it("the pattern does catch the libraries it is meant to", () => {
    for (const name of ["@tensorflow/tfjs-core", "onnxruntime-node", "onnxruntime-web", "ndarray", "@xenova/transformers"]) {
      expect(TENSOR_LIBRARY.test(name)).toBe(true);
    }
    expect(TENSOR_LIBRARY.test("fp-ts")).toBe(false);
  });
});
