/** so101 frames as loader-shaped batches (state, action chunk with is_pad, task; the dataset has no decoded video). */
import { fitFastTokenizer, type FastTokenizer } from "../src/fast/tokenizer";
import { loadSo101Actions, normalisedChunks } from "../../../test-support/so101";

export { loadSo101Frames, so101Batch, type So101Frames } from "../../../test-support/so101";

export async function so101FastTokenizer(chunkSize: number, vocabSize = 256): Promise<FastTokenizer> {
  const data = await loadSo101Actions();
  return fitFastTokenizer(normalisedChunks(data, chunkSize, 5), { chunkSize, actionDim: 6, vocabSize });
}
