import { defineConfig } from "tsup";

export default defineConfig({
  // The public API and its two documented sub-paths (package.json "exports").
  entry: { index: "src/index.ts", backend: "src/backend-index.ts", model: "src/model-index.ts" },
  format: ["esm", "cjs"],
  dts: true,
  sourcemap: true,
  clean: true,
  target: "node20",
  // tfjs-core's gradient registrations exist only as extensionless ESM under dist/, which Node
  // cannot import; bundle them (they register into tfjs's global registry, shared with the
  // external @tensorflow/tfjs-core).
  noExternal: [/@tensorflow\/tfjs-core\/dist\/register_all_gradients/],
});
