import { spawn, spawnSync } from "node:child_process";
const file = "/tmp/ds_b.mp4";
const run = (args) => new Promise((res) => { const t = performance.now(); const c = spawn("ffmpeg", args); let b = 0; c.stdout.on("data", (d) => (b += d.length)); c.on("close", () => res(performance.now() - t)); });
for (let i = 0; i < 3; i++) {
  const raw = await run(["-v", "error", "-i", file, "-f", "null", "/dev/null"]);
  const scaled = await run(["-v", "error", "-i", file, "-vf", "scale=224:224:flags=area", "-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1"]);
  const t = performance.now();
  await Promise.all([run(["-v", "error", "-ss", "0", "-i", file, "-frames:v", "300", "-vf", "scale=224:224:flags=area", "-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1"]), run(["-v", "error", "-ss", "9.98", "-i", file, "-frames:v", "300", "-vf", "scale=224:224:flags=area", "-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1"])]);
  const par = performance.now() - t;
  console.log(`raw ${(600000 / raw).toFixed(0)} fps, scaled-rgb one process ${(600000 / scaled).toFixed(0)} fps, two halves in parallel ${(600000 / par).toFixed(0)} fps`);
}
