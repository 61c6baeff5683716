// @vladmandic/face-api's own networks, the reference that the Keras ports are checked against
// (tests/support/tfjs_reference.py runs this; tests/trainer/test_descriptor_tfjs.py and
// test_landmarks_tfjs.py compare):
// - descriptor: FaceRecognitionNet, the TensorFlow.js port of dlib's ResNet-34 (trainer/model/descriptor.py);
// - landmarks: FaceLandmark68Net, 68 face points (trainer/model/landmarks.py).
//
//   node networks.mjs NET IN.bin N OUT.bin
//
// IN.bin:  N crops, float32 little-endian [N,S,S,3], RGB in 0..255 (what face-api's tensors hold), S the
//          network's input side (150 descriptor, 112 landmarks): crops of that size reach it unresized.
// OUT.bin: float32 little-endian, descriptor: [N,128], the raw descriptors (FaceRecognitionNet.forward,
//          unnormalised); landmarks: [N,136], (x, y) of each point in shares of the side
//          (FaceLandmark68Net.forward).
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

// Each network: its class, its input side, its output width.
const NETWORKS = {
  descriptor: { Net: faceapi.FaceRecognitionNet, size: 150, width: 128 },
  landmarks: { Net: faceapi.FaceLandmark68Net, size: 112, width: 136 },
};

function fail(message) {
  process.stderr.write(`networks.mjs: ${message}\n`);
  process.exit(2);
}

const [netName, inPath, countArg, outPath] = process.argv.slice(2);
if (!netName || !inPath || !countArg || !outPath) fail('usage: node networks.mjs NET IN.bin N OUT.bin');
if (!(netName in NETWORKS)) fail(`NET must be one of ${Object.keys(NETWORKS).join(', ')}, got ${netName}`);
const { Net, size: SIZE, width: WIDTH } = NETWORKS[netName];
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
const net = new Net();
await net.loadFromDisk(modelDir);

// An array of N [S,S,3] tensors is face-api's batch input: NetInput.toBatchTensor(S) stacks
// them; padToSquare and resizeBilinear are no-ops at exactly SxS, so the pixels reach the net
// unchanged (it then subtracts the mean RGB and divides by 255 itself).
const batch = tf.tidy(() => tf.unstack(tf.tensor4d(pixels, [n, SIZE, SIZE, 3], 'float32')));
const outputs = await net.forward(batch);
if (outputs.shape.join() !== `${n},${WIDTH}`) fail(`unexpected output shape [${outputs.shape}]`);
const out = outputs.dataSync();
fs.writeFileSync(outPath, Buffer.from(out.buffer, out.byteOffset, out.byteLength));

tf.dispose([batch, outputs]);
net.dispose();
process.stderr.write(`networks.mjs: ${n} x ${netName}, tfjs ${tf.version_core} backend ${tf.getBackend()}\n`);
