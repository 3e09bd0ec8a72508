import { EngineError } from './errors.js';
import type { ParsedModel } from './model/parsed-model.js';
import type { ParameterSelection } from './request-schema.js';
import type { ParamLayout } from './types.js';

/** Resolves `include` (weight or layer names) to the selected trainable weights, in model order. */
export function selectParameters(model: ParsedModel, selection?: ParameterSelection): ParamLayout[] {
  const all = model.parameters;
  if (!selection?.include) return all;
  const unknown = selection.include.filter((n) => !all.some((p) => p.name === n || p.layer === n));
  if (unknown.length > 0) {
    const names = all.map((p) => p.name).join(', ');
    throw new EngineError(
      'invalid_parameters',
      `Unknown parameter or layer name(s): ${unknown.join(', ')}. Trainable weights are: ${names}.`,
    );
  }
  let offset = 0;
  return all
    .filter((p) => selection.include!.some((n) => p.name === n || p.layer === n))
    .map((p) => {
      const entry = { ...p, offset };
      offset += p.size;
      return entry;
    });
}
