import * as tf from "@tensorflow/tfjs-core";
import { describe, expect, test } from "vitest";
import { describeBackend, initBackend, loadNativeBlas } from "../src/backend-index";
import { probeNativeBlas } from "../src/backend/nativeBlas";

describe("initBackend", () => {
  test("cpu: the reference backend with no patched kernels", async () => {
    const info = await initBackend("cpu");
    expect(tf.getBackend()).toBe("cpu");
    expect(info).toMatchObject({ name: "cpu", device: "cpu", kernels: [], blas: null });
  });

  test("wasm: our kernels registered, BLAS reported as loaded or as why not", async () => {
    const info = await initBackend("wasm");
    expect(tf.getBackend()).toBe("wasm");
    expect(info.kernels).toEqual(["BatchMatMul", "_FusedMatMul", "Identity", "UnsortedSegmentSum"]);
    const blas = loadNativeBlas();
    if (blas._tag === "Loaded") {
      expect(info.blas).toMatch(/OpenBLAS/);
      expect(info.threads).toBeGreaterThanOrEqual(1);
    } else {
      // No OpenBLAS addon: ONNX Runtime's sgemm from the npm package takes its place.
      expect(info.blas).toMatch(/^ONNX Runtime .* MLAS/);
      expect(info.notes?.join(" ")).toContain(blas.reason);
    }
    // The wasm binaries were found in node_modules: a real op runs.
    expect(Array.from(tf.tidy(() => tf.matMul(tf.tensor2d([[1, 2]]), tf.tensor2d([[3], [4]]))).dataSync())).toEqual([11]);
  });

  test("without the OpenBLAS addon, wasm matmuls go to ONNX Runtime's MLAS (npm, no system packages)", async () => {
    const info = await initBackend("wasm", { nativeBlas: false });
    expect(info.blas).toMatch(/^ONNX Runtime \d+\.\d+\.\d+ MLAS \(onnxruntime-node\)$/);
    expect(info.notes).toContain("OpenBLAS addon: disabled by options");
    const y = tf.tidy(() => tf.matMul(tf.tensor2d([[1, 2], [3, 4]]), tf.tensor2d([[1, 0], [1, 1]]), true, true));
    expect(Array.from(y.dataSync())).toEqual([1, 4, 2, 6]);
    y.dispose();
  });

  test("wasm without any BLAS still routes transposed matmuls through our kernel", async () => {
    const info = await initBackend("wasm", { nativeBlas: false, onnxruntime: false });
    expect(info.blas).toBeNull();
    expect(info.notes).toContain("OpenBLAS addon: disabled by options");
    expect(info.notes).toContain("ONNX Runtime sgemm: disabled by options");
    const y = tf.tidy(() => tf.matMul(tf.tensor2d([[1, 2], [3, 4]]), tf.tensor2d([[1, 0], [1, 1]]), true, true));
    expect(Array.from(y.dataSync())).toEqual([1, 4, 2, 6]);
    y.dispose();
  });

  test("auto picks wasm on a machine without tfjs-node-gpu or WebGPU", async () => {
    const info = await initBackend("auto");
    expect(info.device).toBe("auto");
    expect(info.name).toBe("wasm");
  });

  test("an unavailable backend is an error naming it, why, and what is available", async () => {
    await expect(initBackend("gpu")).rejects.toThrow(
      /policy\.device=gpu: backend unavailable \(@tensorflow\/tfjs-node-gpu: .+\)\. Available: .*wasm, cpu\./,
    );
    // webgpu starts wherever Mesa's EGL/GLES is installed (CI included: Dawn's OpenGL ES adapter on
    // llvmpipe); its no-adapter and missing-package errors are tested in webgpu.test.ts.
  });
});

describe("describeBackend", () => {
  test("one line with backend, kernels, BLAS, threads and notes", () => {
    expect(
      describeBackend({
        name: "wasm",
        device: "auto",
        kernels: ["BatchMatMul", "UnsortedSegmentSum"],
        blas: "OpenBLAS 0.3.21",
        threads: 2,
        notes: ["x"],
      }),
    ).toBe('backend=wasm device=auto kernels=BatchMatMul,UnsortedSegmentSum blas="OpenBLAS 0.3.21" threads=2 note="x"');
    expect(describeBackend({ name: "cpu", device: "cpu", kernels: [], blas: null })).toBe("backend=cpu device=cpu kernels=stock blas=none");
  });
});

describe("native BLAS addon loading", () => {
  test("disabled, or missing at a given path, is reported and never thrown", () => {
    expect(probeNativeBlas("0")).toEqual({ _tag: "Unavailable", reason: "disabled by PI0FAST_NATIVE_BLAS=0" });
    const missing = probeNativeBlas("/nonexistent/pi0fast_blas.node");
    expect(missing._tag).toBe("Unavailable");
    expect(missing._tag === "Unavailable" && missing.reason).toContain("/nonexistent/pi0fast_blas.node not built");
  });

  test("when built, sgemmBatched computes a hand-worked batched product with a broadcast operand", () => {
    const load = loadNativeBlas();
    if (load._tag === "Unavailable") {
      expect(load.reason).toMatch(/not built|failed to load|disabled|not found/);
      return;
    }
    // A: two 1×2 matrices; B shared (stride 0): [[1, 2], [3, 4]].
    const c = new Float32Array(4);
    load.blas.sgemmBatched(2, false, false, 1, 2, 2, new Float32Array([1, 1, 2, -1]), 2, new Float32Array([1, 2, 3, 4]), 0, c);
    expect(Array.from(c)).toEqual([4, 6, -1, 0]);
    expect(() => load.blas.sgemmBatched(2, false, false, 2, 2, 2, new Float32Array(3), 4, new Float32Array(4), 0, c)).toThrow(
      /smaller than the shapes/,
    );
  });
});
