/**
 * Side-effect module, imported first by every GPU-machine entry: tfjs's chained ops and gradients
 * (tree-shaken away by a bundler otherwise), and the optional packages handed to initBackend (a
 * bundle cannot resolve its computed-name imports). `webgpu` stays external: pack.sh copies its
 * index.js and linux-x64 dawn.node into .device/node_modules/webgpu.
 */
import "@tensorflow/tfjs-core/dist/public/chained_ops/register_all_chained_ops";
import "@tensorflow/tfjs-core/dist/register_all_gradients";
import * as tfjsCpu from "@tensorflow/tfjs-backend-cpu";
import * as tfjsWebgpu from "@tensorflow/tfjs-backend-webgpu";
import * as dawn from "webgpu";
import { provideOptionalModules } from "@craft/policy-pi0fast/backend";

provideOptionalModules({ webgpu: dawn, "@tensorflow/tfjs-backend-webgpu": tfjsWebgpu, "@tensorflow/tfjs-backend-cpu": tfjsCpu });
