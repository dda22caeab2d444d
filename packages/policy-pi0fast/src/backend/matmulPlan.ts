import { broadcast_util } from "@tensorflow/tfjs-core";

/** Shapes of one (batched) matmul op(A)·op(B) as tfjs's BatchMatMul defines them. */
export interface MatMulPlan {
  readonly m: number;
  readonly n: number;
  readonly k: number;
  readonly batchA: number;
  readonly batchB: number;
  readonly batch: number;
  readonly outShape: number[];
}

export function planMatMul(
  aShape: readonly number[],
  bShape: readonly number[],
  transposeA: boolean,
  transposeB: boolean,
): MatMulPlan {
  const ra = aShape.length;
  const rb = bShape.length;
  const m = transposeA ? aShape[ra - 1]! : aShape[ra - 2]!;
  const k = transposeA ? aShape[ra - 2]! : aShape[ra - 1]!;
  const kB = transposeB ? bShape[rb - 1]! : bShape[rb - 2]!;
  const n = transposeB ? bShape[rb - 2]! : bShape[rb - 1]!;
  if (k !== kB) {
    throw new Error(
      `matMul: inner dimensions differ (${k} vs ${kB}) for shapes [${aShape.join(",")}] and ` +
        `[${bShape.join(",")}] with transposeA=${transposeA}, transposeB=${transposeB}`,
    );
  }
  const outerA = aShape.slice(0, -2);
  const outerB = bShape.slice(0, -2);
  const batchA = outerA.reduce((x, y) => x * y, 1);
  const batchB = outerB.reduce((x, y) => x * y, 1);
  const outer = broadcast_util.assertAndGetBroadcastShape(outerA, outerB);
  const batch = outer.reduce((x, y) => x * y, 1);
  return { m, n, k, batchA, batchB, batch, outShape: [...outer, m, n] };
}

/** Broadcasting we can express with a batch stride: equal batches, or one side a single matrix. */
export function isStridedBroadcast(plan: MatMulPlan): boolean {
  return (plan.batchA === plan.batch || plan.batchA === 1) && (plan.batchB === plan.batch || plan.batchB === 1);
}
