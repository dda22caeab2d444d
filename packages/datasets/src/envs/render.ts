/** The synthetic scenes' top-down camera: one renderer for the datasets and the simulated environments. */

export type Rgb = readonly [number, number, number];

export const COLORS = {
  table: [190, 185, 175],
  red: [220, 30, 30],
  blue: [40, 60, 210],
  yellow: [225, 195, 20],
  gripperOpen: [30, 200, 60],
  gripperClosed: [20, 110, 40],
} as const satisfies Record<string, Rgb>;

export interface SceneDrawing {
  readonly ee: readonly [number, number, number];
  readonly gripper: number;
  /** Round targets on the table (reach: one red; two-target scene: red and blue). */
  readonly targets: readonly { readonly x: number; readonly y: number; readonly color: Rgb }[];
  /** The square block of the push task. */
  readonly block?: readonly [number, number];
}

/** Table coordinates in [-1, 1] map onto pixel centres 0 … size−1. */
const toPixel = (v: number, size: number) => ((v + 1) / 2) * (size - 1);

const fillDisk = (img: Uint8Array, size: number, cx: number, cy: number, r: number, c: Rgb) => {
  for (let y = Math.max(0, Math.floor(cy - r)); y <= Math.min(size - 1, Math.ceil(cy + r)); y++) {
    for (let x = Math.max(0, Math.floor(cx - r)); x <= Math.min(size - 1, Math.ceil(cx + r)); x++) {
      if ((x - cx) ** 2 + (y - cy) ** 2 <= r * r) img.set(c, (y * size + x) * 3);
    }
  }
};

const fillSquare = (img: Uint8Array, size: number, cx: number, cy: number, half: number, c: Rgb) => {
  for (let y = Math.max(0, Math.round(cy - half)); y <= Math.min(size - 1, Math.round(cy + half)); y++) {
    for (let x = Math.max(0, Math.round(cx - half)); x <= Math.min(size - 1, Math.round(cx + half)); x++) img.set(c, (y * size + x) * 3);
  }
};

/** Grey table, targets as disks, the block as a blue square, the end effector as a green dot that grows as it rises. */
export const renderScene = (scene: SceneDrawing, size: number): Uint8Array => {
  const img = new Uint8Array(size * size * 3);
  for (let i = 0; i < size * size; i++) img.set(COLORS.table, i * 3);
  const s = size / 64;
  for (const t of scene.targets) fillDisk(img, size, toPixel(t.x, size), toPixel(t.y, size), 4 * s, t.color);
  if (scene.block !== undefined) fillSquare(img, size, toPixel(scene.block[0], size), toPixel(scene.block[1], size), 4 * s, COLORS.blue);
  const [x, y, z] = scene.ee;
  fillDisk(img, size, toPixel(x, size), toPixel(y, size), (2 + 3 * z) * s, scene.gripper > 0.5 ? COLORS.gripperOpen : COLORS.gripperClosed);
  return img;
};
