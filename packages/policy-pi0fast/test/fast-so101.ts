/** Real so101 action chunks for the FAST and processor tests (normalised with the dataset's q01/q99); the reader is shared with tools. */
export { SO101_ROOT, loadSo101Actions, normalisedChunks, type So101Actions } from "../../../test-support/so101";
