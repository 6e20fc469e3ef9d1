import ort from 'onnxruntime-node';

/**
 * The segmentation model: one ONNX Runtime session (CPU, memory arena off).
 * Contract of a model file (docs/remove-bg.md): one float32 input
 * [1, 3, S, S] (RGB, each channel scaled to 0..1 by the image's maximum, then
 * (x - mean) / std) and a first output [1, 1, S, S] whose larger values mean
 * "object". U²-Net (u2net, u2netp) uses S = 320 and ImageNet mean/std;
 * IS-Net (isnet-general-use) uses S = 1024 and std 1.
 */
export interface SegmentationModel {
  /** The square input side S. */
  readonly size: number;
  /** The object probability per pixel (min-max normalised to 0..1), S×S row-major. */
  predict(rgb: Uint8Array): Promise<Float32Array>;
  close(): Promise<void>;
}

const MEAN = [0.485, 0.456, 0.406];
const IMAGENET_STD = [0.229, 0.224, 0.225];

export async function loadSegmentationModel(path: string, threads: number): Promise<SegmentationModel> {
  const session = await ort.InferenceSession.create(path, {
    executionProviders: ['cpu'],
    enableCpuMemArena: false,
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
  });
  const input = session.inputMetadata[0];
  const shape = input?.isTensor ? input.shape : [];
  const side = shape[2];
  if (session.inputNames.length !== 1 || shape.length !== 4 || typeof side !== 'number' || shape[3] !== side || side < 32) {
    await session.release();
    throw new Error(`expected one float32 input [1, 3, S, S], got ${JSON.stringify(shape)}`);
  }
  const size = side;
  const std = size >= 1024 ? [1, 1, 1] : IMAGENET_STD;
  const inputName = session.inputNames[0]!;
  const outputName = session.outputNames[0]!;

  // One run at a time: a u2netp run's activations peak at ~250 MiB (its 3x3 convolutions at
  // 320 px), so jobs side by side must not add them up; on the same cores two runs are no faster.
  let previous: Promise<unknown> = Promise.resolve();
  const oneAtATime = <T>(task: () => Promise<T>): Promise<T> => {
    const run = previous.then(task, task);
    previous = run.catch(() => undefined);
    return run;
  };

  return {
    size,
    predict: (rgb) => oneAtATime(() => predictNow(rgb)),
    close: () => session.release(),
  };

  async function predictNow(rgb: Uint8Array): Promise<Float32Array> {
    const plane = size * size;
    let max = 1;
    for (let i = 0; i < rgb.length; i++) if (rgb[i]! > max) max = rgb[i]!;
    const data = new Float32Array(3 * plane);
    for (let i = 0; i < plane; i++) {
      for (let c = 0; c < 3; c++) data[c * plane + i] = (rgb[i * 3 + c]! / max - MEAN[c]!) / std[c]!;
    }
    const result = await session.run({ [inputName]: new ort.Tensor('float32', data, [1, 3, size, size]) });
    const out = result[outputName]!;
    const values = out.data as Float32Array;
    if (values.length !== plane) throw new Error(`model output has ${values.length} values, expected ${plane}`);
    let lo = Infinity;
    let hi = -Infinity;
    for (const v of values) {
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    const range = hi - lo > 1e-6 ? hi - lo : 1;
    const prob = new Float32Array(plane);
    for (let i = 0; i < plane; i++) prob[i] = (values[i]! - lo) / range;
    for (const tensor of Object.values(result)) tensor.dispose();
    return prob;
  }
}
