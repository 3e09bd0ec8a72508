/**
 * The activation vocabulary (tf-free, shared by the parser and the forward pass). Names are normalized from
 * TF.js camelCase (`hardSigmoid`) and Keras snake_case (`hard_sigmoid`) to one snake_case spelling.
 */
import { EngineError } from '../errors.js';

export const ACTIVATION_NAMES = [
  'linear',
  'relu',
  'relu6',
  'elu',
  'selu',
  'sigmoid',
  'hard_sigmoid',
  'tanh',
  'softplus',
  'softsign',
  'swish',
  'gelu',
  'softmax',
] as const;

export type ActivationName = (typeof ACTIVATION_NAMES)[number];

const ALIASES: Record<string, ActivationName> = { silu: 'swish', hardsigmoid: 'hard_sigmoid' };

/**
 * Maps a serialized activation (a string, or an object as some writers emit it; absent means linear) to its
 * canonical name.
 * @throws EngineError('unsupported_layer') naming the layer and the supported set
 */
export function normalizeActivation(raw: unknown, layerName: string, className: string): ActivationName {
  if (raw === undefined || raw === null) return 'linear';
  let name: unknown = raw;
  if (typeof raw === 'object') {
    const obj = raw as Record<string, unknown>;
    // Keras 3 may write a built-in as {class_name: 'function', config: 'relu'}.
    name =
      obj.class_name === 'function' && typeof obj.config === 'string'
        ? obj.config
        : (obj.class_name ?? obj.className);
  }
  if (typeof name !== 'string') {
    throw new EngineError(
      'invalid_model',
      `Layer "${layerName}" (${className}) has an unreadable activation.`,
    );
  }
  const snake = name.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toLowerCase();
  const alias = (key: string): string | undefined => (Object.hasOwn(ALIASES, key) ? ALIASES[key] : undefined);
  const canonical = alias(snake) ?? alias(snake.replace(/_/g, '')) ?? snake;
  if ((ACTIVATION_NAMES as readonly string[]).includes(canonical)) return canonical as ActivationName;
  throw new EngineError(
    'unsupported_layer',
    `Layer "${layerName}" (${className}) uses activation "${name}", which is not supported. ` +
      `Supported activations: ${ACTIVATION_NAMES.join(', ')} (silu is an alias of swish).`,
    { layer: layerName, className, activation: name, supported: [...ACTIVATION_NAMES, 'silu'] },
  );
}
