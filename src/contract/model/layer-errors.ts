/** How a layer builder refuses a layer: the layer's name and class first, then what is wrong (tf-free). */
import { EngineError } from '../errors.js';
import type { RawLayer } from './topology.js';

export function fail(
  layer: RawLayer,
  message: string,
  code: 'unsupported_layer' | 'invalid_model' = 'invalid_model',
): never {
  throw new EngineError(code, `Layer "${layer.name}" (${layer.className}): ${message}`, {
    layer: layer.name,
    className: layer.className,
  });
}
