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

const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** Reads a config key in snake_case or TF.js camelCase. */
const configValue = (config: Record<string, unknown>, snake: string, camel: string): unknown =>
  config[snake] ?? config[camel];

const isDefault = (v: unknown, fallback: number | null) => v === undefined || v === null || v === fallback;

/** Activation layers whose options make them something no activation name expresses. */
const PARAMETRIC_LAYERS = ['ReLU', 'ELU', 'Softmax', 'LeakyReLU', 'PReLU', 'ThresholdedReLU'];

/**
 * The activation a serialized layer object stands for, when it is one of the named activations (ReLU without
 * options or with max_value 6, ELU with alpha 1, Softmax over the last axis, an Activation layer); null for an
 * activation layer with other options; undefined when the class is no activation layer.
 */
function layerObjectActivation(className: string, config: Record<string, unknown>): unknown {
  const threshold = configValue(config, 'threshold', 'threshold');
  const slope = configValue(config, 'negative_slope', 'negativeSlope');
  switch (className) {
    case 'Activation':
      return configValue(config, 'activation', 'activation');
    case 'ReLU': {
      const max = configValue(config, 'max_value', 'maxValue');
      if (!isDefault(threshold, 0) || !isDefault(slope, 0)) return null;
      if (isDefault(max, null)) return 'relu';
      return max === 6 ? 'relu6' : null;
    }
    case 'ELU':
      return isDefault(config.alpha, 1) ? 'elu' : null;
    case 'Softmax': {
      const axis = Array.isArray(config.axis) && config.axis.length === 1 ? config.axis[0] : config.axis;
      return isDefault(axis, -1) ? 'softmax' : null;
    }
    default:
      return PARAMETRIC_LAYERS.includes(className) ? null : undefined;
  }
}

/**
 * Maps a serialized activation to its canonical name. Accepted forms: absent (linear); a string; a serialized
 * function as Keras 3 writes it (`{module: 'keras.activations', class_name: 'function', config: 'relu',
 * registered_name: 'relu'}`, the config possibly `{name: 'relu'}`); an object naming the activation as its class
 * (`{class_name: 'relu6'}`); and a serialized layer standing for a named activation (`Activation`, `ReLU` without
 * options or with max_value 6, `ELU` with alpha 1, `Softmax` over the last axis).
 * @throws EngineError('unsupported_layer') naming the layer and the supported set
 */
export function normalizeActivation(raw: unknown, layerName: string, className: string): ActivationName {
  if (raw === undefined || raw === null) return 'linear';
  let name: unknown = raw;
  if (isRecord(raw)) {
    const cls = raw.class_name ?? raw.className;
    const config = raw.config;
    if (cls === 'function') {
      // Keras 3 serializes a built-in activation function as {class_name: 'function', config: 'relu'}.
      if (typeof config === 'string') name = config;
      else if (isRecord(config) && typeof config.name === 'string') name = config.name;
      else name = raw.registered_name;
    } else if (typeof cls === 'string' && isRecord(config)) {
      const fromLayer = layerObjectActivation(cls, config);
      if (fromLayer === null) {
        throw new EngineError(
          'unsupported_layer',
          `Layer "${layerName}" (${className}) uses a ${cls} layer object as its activation, which is ` +
            `not supported. Supported activations: ${ACTIVATION_NAMES.join(', ')} (as a string, a serialized ` +
            'function, or an Activation, ReLU, ELU or Softmax layer object with default options).',
          { layer: layerName, className, activation: cls, supported: [...ACTIVATION_NAMES, 'silu'] },
        );
      }
      name = fromLayer ?? cls;
    } else {
      name = cls;
    }
    if (isRecord(name)) return normalizeActivation(name, layerName, className);
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
