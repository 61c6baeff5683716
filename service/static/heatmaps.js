// Explanations (explain=true): each face's heatmap, a small grayscale PNG over its box, drawn on the
// photo as a red glow where the model found its evidence for the person it named.
const GLOW = [255, 40, 0];
const OPACITY = 0.6;

async function glow(face) {
  const blob = await (await fetch(`data:image/png;base64,${face.heatmap}`)).blob();
  const bitmap = await createImageBitmap(blob);
  const layer = document.createElement("canvas");
  layer.width = bitmap.width;
  layer.height = bitmap.height;
  const context = layer.getContext("2d");
  context.drawImage(bitmap, 0, 0);
  const pixels = context.getImageData(0, 0, layer.width, layer.height);
  for (let i = 0; i < pixels.data.length; i += 4) {
    const strength = pixels.data[i];  // grey: every channel alike
    pixels.data.set(GLOW, i);
    pixels.data[i + 3] = Math.round(strength * OPACITY);
  }
  context.putImageData(pixels, 0, 0);
  return layer;
}

// Draw every face's heatmap stretched over its box; the number drawn.
export async function drawHeatmaps(context, faces) {
  const explained = faces.filter((face) => face.heatmap);
  const layers = await Promise.all(explained.map(glow));
  explained.forEach((face, index) => {
    const { x, y, width, height } = face.box;
    context.drawImage(layers[index], x, y, width, height);
  });
  return layers.length;
}
