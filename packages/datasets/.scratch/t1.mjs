import { openDataset, deltaTimestampsForChunk } from "../dist/index.js";
const root = "/work/shared/datasets/so101-pick-orange-cube";
try { await openDataset(root); } catch (e) { console.log(e.message); }
const ds = await openDataset(root, { exclude: ["observation.images.front", "observation.images.top"], deltaTimestamps: { action: deltaTimestampsForChunk(30, 50) } });
console.log(ds.numFrames, ds.numEpisodes, ds.episodes, ds.tasks, Object.keys(ds.stats));
const b = await ds.getFrames([0, 1, 372, 1491]);
for (const [k, v] of Object.entries(b.features)) console.log(k, v.shape, Array.from(v.data.slice(0, 8)));
console.log(b.task);
