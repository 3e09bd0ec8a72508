import { createRequire } from 'node:module';
import * as tf from '@tensorflow/tfjs';
import { EngineError } from '../contract/errors.js';
import { registerSecondOrderGradients } from './autodiff/register-all.js';

export type BackendChoice = 'auto' | 'cpu' | 'wasm' | 'tensorflow';

export interface BackendInfo {
  /** TF.js backend name: tensorflow, wasm or cpu. */
  name: string;
  /** What computes: e.g. "cpu (JavaScript)", "wasm (SIMD)", "tensorflow (libtensorflow, GPU)". */
  device: string;
}

const require = createRequire(import.meta.url);
let current: BackendInfo | undefined;

/** Loads a native binding (`@tensorflow/tfjs-node-gpu`, else `@tensorflow/tfjs-node`); undefined when absent. */
function loadNative(): { pkg: string } | { error: string } {
  const errors: string[] = [];
  for (const pkg of ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node']) {
    try {
      require(pkg);
      return { pkg };
    } catch (e) {
      errors.push(`${pkg}: ${(e as Error).message.split('\n')[0]}`);
    }
  }
  return { error: errors.join('; ') };
}

async function useWasm(): Promise<boolean> {
  try {
    await import('@tensorflow/tfjs-backend-wasm');
    return await tf.setBackend('wasm');
  } catch {
    return false;
  }
}

/**
 * Selects the TF.js backend once per process: `auto` tries the native bindings (GPU, then CPU), then wasm, then
 * the pure-JS cpu backend. An explicit choice that cannot load fails with `backend_unavailable` instead of
 * silently computing elsewhere.
 * @throws EngineError('backend_unavailable')
 */
export async function initBackend(choice: BackendChoice = 'auto'): Promise<BackendInfo> {
  // Production mode: no console advice to install tfjs-node, no warnings for our gradient overrides.
  tf.env().set('PROD', true);
  registerSecondOrderGradients();
  if (current && (choice === 'auto' || choice === current.name)) return current;
  let info: BackendInfo | undefined;
  if (choice === 'tensorflow' || choice === 'auto') {
    const native = loadNative();
    if ('pkg' in native && (await tf.setBackend('tensorflow'))) {
      info = {
        name: 'tensorflow',
        device: native.pkg.endsWith('-gpu') ? 'tensorflow (GPU)' : 'tensorflow (CPU)',
      };
    } else if (choice === 'tensorflow') {
      throw new EngineError(
        'backend_unavailable',
        `HESSIAN_BACKEND=tensorflow but no native TF.js binding loads (${'error' in native ? native.error : 'setBackend failed'}). Install @tensorflow/tfjs-node or @tensorflow/tfjs-node-gpu, or choose cpu or wasm.`,
      );
    }
  }
  if (!info && (choice === 'wasm' || choice === 'auto')) {
    if (await useWasm()) info = { name: 'wasm', device: 'wasm (WebAssembly)' };
    else if (choice === 'wasm') {
      throw new EngineError(
        'backend_unavailable',
        'The wasm backend did not initialise; choose cpu instead.',
      );
    }
  }
  if (!info) {
    await tf.setBackend('cpu');
    info = { name: 'cpu', device: 'cpu (JavaScript)' };
  }
  await tf.ready();
  current = info;
  return info;
}
