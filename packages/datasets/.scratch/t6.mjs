import { spawn } from "node:child_process";
const file = "/tmp/ds_b.mp4";
function dec(start, n, extra = []) {
  return new Promise((res) => {
    const t = performance.now();
    const c = spawn("ffmpeg", ["-v", "error", "-nostdin", ...extra, "-ss", String(Math.max(0, start - 0.5 / 30)), "-i", file, "-frames:v", String(n), "-vf", "scale=224:224:flags=area", "-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1"]);
    let bytes = 0; c.stdout.on("data", (d) => (bytes += d.length));
    c.on("close", () => res([bytes / 150528, performance.now() - t]));
  });
}
for (const extra of [[], ["-threads", "1"]]) {
let t = performance.now();
for (let w = 0; w < 10; w++) await dec(w * 2, 60, extra);
console.log(extra, "sequential 10x60", (600 / ((performance.now() - t) / 1000)).toFixed(0), "fps");
t = performance.now();
await Promise.all(Array.from({ length: 10 }, (_, w) => dec(w * 2, 60, extra)));
console.log(extra, "parallel 10x60", (600 / ((performance.now() - t) / 1000)).toFixed(0), "fps");
t = performance.now();
await dec(0, 600, extra);
console.log(extra, "one process 600", (600 / ((performance.now() - t) / 1000)).toFixed(0), "fps");
}
t = performance.now();
await new Promise((res) => spawn("ffmpeg", ["-v", "error", "-i", file, "-f", "null", "/dev/null"]).on("close", res));
console.log("raw null", (600 / ((performance.now() - t) / 1000)).toFixed(0), "fps");
