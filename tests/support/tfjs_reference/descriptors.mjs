// Face descriptors computed by @vladmandic/face-api's own FaceRecognitionNet (the TensorFlow.js port
// of dlib's ResNet-34), the reference that the Keras port in trainer/model/descriptor.py is checked
// against (tests/support/tfjs_reference.py runs this; tests/trainer/test_descriptor_tfjs.py compares).
//
//   node descriptors.mjs IN.bin N OUT.bin
//
// IN.bin:  N crops, float32 little-endian [N,150,150,3], RGB in 0..255 (what face-api's tensors hold).
// OUT.bin: float32 little-endian [N,128], the raw descriptors (FaceRecognitionNet.forward, unnormalised).
//
// Bundle: dist/face-api.node-wasm.js, the package's node build that needs no native binary
// (face-api.node.js requires @tensorflow/tfjs-node, whose install downloads one from outside the
// registries). It is CommonJS and require()s @tensorflow/tfjs and @tensorflow/tfjs-backend-wasm, which
// package.json pins at 4.22.0, the version face-api 1.7.15 was built for. We run on the plain-JS 'cpu'
// backend (bundled in @tensorflow/tfjs), not wasm: float32 arithmetic in JS, no SIMD/threads surprises.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const faceapi = require('@vladmandic/face-api/dist/face-api.node-wasm.js');
const { tf } = faceapi; // the very tfjs instance the package uses

const SIZE = 150; // FaceRecognitionNet's input size: crops of exactly this size are not resized

function fail(message) {
  process.stderr.write(`descriptors.mjs: ${message}\n`);
  process.exit(2);
}

const [inPath, countArg, outPath] = process.argv.slice(2);
if (!inPath || !countArg || !outPath) fail('usage: node descriptors.mjs IN.bin N OUT.bin');
if (os.endianness() !== 'LE') fail('expects a little-endian machine (Float32Array is native-endian)');
const n = Number(countArg);
if (!Number.isInteger(n) || n < 1) fail(`N must be a positive integer, got ${countArg}`);

const raw = fs.readFileSync(inPath);
const expected = n * SIZE * SIZE * 3 * 4;
if (raw.byteLength !== expected) fail(`${inPath} has ${raw.byteLength} bytes, expected ${expected} for N=${n}`);
// Copy into a fresh, aligned ArrayBuffer (a Buffer may sit at an odd offset inside a shared pool).
const pixels = new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength));

await tf.setBackend('cpu');
await tf.ready();

// The model files shipped in the installed package, read with fs by the package's own loadFromDisk
// (which dequantises the uint8 weights as the manifest says).
const modelDir = path.join(path.dirname(require.resolve('@vladmandic/face-api/package.json')), 'model');
const net = new faceapi.FaceRecognitionNet();
await net.loadFromDisk(modelDir);

// An array of N [150,150,3] tensors is face-api's batch input: NetInput.toBatchTensor(150) stacks
// them; padToSquare and resizeBilinear are no-ops at exactly 150x150, so the pixels reach the net
// unchanged (it then subtracts the mean RGB and divides by 255 itself).
const batch = tf.tidy(() => tf.unstack(tf.tensor4d(pixels, [n, SIZE, SIZE, 3], 'float32')));
const descriptors = await net.forward(batch);
if (descriptors.shape.join() !== `${n},128`) fail(`unexpected output shape [${descriptors.shape}]`);
const out = descriptors.dataSync();
fs.writeFileSync(outPath, Buffer.from(out.buffer, out.byteOffset, out.byteLength));

tf.dispose([batch, descriptors]);
net.dispose();
process.stderr.write(`descriptors.mjs: ${n} descriptors, tfjs ${tf.version_core} backend ${tf.getBackend()}\n`);
