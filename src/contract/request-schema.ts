/**
 * The request vocabulary shared by the CLI, the HTTP API and the workers: losses, parameter selection and methods.
 * These zod schemas are the single source for validation, TypeScript types and (through the API) OpenAPI.
 */
import { z } from 'zod';

export const LOSS_NAMES = [
  'mean_squared_error',
  'huber',
  'binary_crossentropy',
  'categorical_crossentropy',
  'sparse_categorical_crossentropy',
] as const;

const outputLossSchema = z
  .object({
    name: z.enum(LOSS_NAMES).optional().describe('Loss of this output (default: the loss named above).'),
    fromLogits: z.boolean().optional(),
    delta: z.number().positive().optional(),
    weight: z.number().min(0).default(1).describe('Weight of this output in the sum (Keras loss_weights).'),
  })
  .strict();

export const lossSpecSchema = z
  .object({
    name: z.enum(LOSS_NAMES).describe('Loss function, with Keras semantics (mean over examples).'),
    fromLogits: z
      .boolean()
      .default(false)
      .describe('Targets are compared with logits rather than probabilities.'),
    reduction: z.enum(['mean', 'sum']).default('mean').describe('Mean over examples (Keras default) or sum.'),
    l2: z.number().min(0).default(0).describe('Adds l2 * 0.5 * ||theta||^2 over the selected parameters.'),
    delta: z.number().positive().default(1).describe('Huber loss threshold.'),
    outputs: z
      .record(
        z
          .string()
          .min(1)
          .max(200)
          .refine((key) => key !== '__proto__', 'not an output name'),
        outputLossSchema,
      )
      .optional()
      .describe(
        'Models with several outputs: per-output settings by output layer name (loss name, fromLogits, delta, ' +
          'weight as Keras loss_weights). Outputs not listed use the settings above with weight 1. The loss is ' +
          'the weighted sum of the per-output losses (each reduced over its examples) plus the l2 term.',
      ),
  })
  .strict();
export type LossSpec = z.output<typeof lossSpecSchema>;
export type LossSpecInput = z.input<typeof lossSpecSchema>;

export const parameterSelectionSchema = z
  .object({
    include: z
      .array(z.string().min(1))
      .min(1)
      .optional()
      .describe(
        'Weight names (e.g. "dense_1/kernel") or layer names (e.g. "dense_1"); default: all trainable weights.',
      ),
  })
  .strict();
export type ParameterSelection = z.output<typeof parameterSelectionSchema>;

const curvature = z
  .enum(['hessian', 'ggn', 'fisher'])
  .default('hessian')
  .describe(
    'Which curvature matrix to use: the Hessian, the generalized Gauss–Newton, or the Fisher (see fisherType).',
  );
/** The Fisher's options, on every method that takes a curvature (refused with any other curvature). */
const fisherOptions = {
  fisherType: z
    .enum(['mc', 'empirical'])
    .optional()
    .describe(
      'With curvature "fisher" (default "mc"): "mc", the Monte-Carlo Fisher from gradients at targets sampled from ' +
        "the model's predictive distribution (seeded by `seed`; converges to the GGN as 1/sqrt(samples)); " +
        '"empirical", the mean outer product of the per-example gradients at the given targets.',
    ),
  samples: z
    .number()
    .int()
    .min(1)
    .max(10000)
    .optional()
    .describe('With curvature "fisher" and fisherType "mc": sampled targets per example (default 1).'),
};
const blocks = z
  .enum(['full', 'layer', 'weight'])
  .default('full')
  .describe('Full matrix, or block-diagonal by layer or by weight tensor (off-block entries are zero).');
const probes = (d: number) =>
  z.number().int().min(1).max(100000).default(d).describe('Number of random probes.');
const vectors = z
  .array(z.array(z.number()))
  .min(1)
  .optional()
  .describe('k vectors of length P (rows); may instead be supplied as an uploaded k×P .npy.');

export const methodSpecSchema = z.discriminatedUnion('name', [
  z.object({ name: z.literal('hessian'), blocks }).strict(),
  z.object({ name: z.literal('ggn'), blocks }).strict(),
  z.object({ name: z.literal('hvp'), vectors }).strict(),
  z.object({ name: z.literal('ggnvp'), vectors }).strict(),
  z.object({ name: z.literal('fisher'), blocks, ...fisherOptions }).strict(),
  z.object({ name: z.literal('fvp'), vectors, ...fisherOptions }).strict(),
  z.object({ name: z.literal('diagonal'), curvature, ...fisherOptions }).strict(),
  z
    .object({ name: z.literal('diagonal_estimate'), curvature, probes: probes(100), ...fisherOptions })
    .strict(),
  z
    .object({
      name: z.literal('trace'),
      curvature,
      ...fisherOptions,
      estimator: z.enum(['hutchinson', 'hutchpp', 'exact']).default('hutchpp'),
      probes: probes(60),
    })
    .strict(),
  z
    .object({
      name: z.literal('eigen'),
      curvature,
      ...fisherOptions,
      k: z.number().int().min(1).max(1000).default(3),
      which: z.enum(['largest', 'smallest', 'magnitude']).default('largest'),
      maxIter: z
        .number()
        .int()
        .min(1)
        .max(100000)
        .optional()
        .describe('Lanczos steps; default min(P, max(2k+20, 40)).'),
      tol: z.number().positive().default(1e-5).describe('Relative residual tolerance.'),
    })
    .strict(),
  z
    .object({
      name: z.literal('density'),
      curvature,
      ...fisherOptions,
      probes: probes(8),
      steps: z.number().int().min(2).max(1000).default(60).describe('Lanczos steps per probe.'),
      gridPoints: z.number().int().min(2).max(100000).default(400),
      sigma: z
        .number()
        .positive()
        .optional()
        .describe('Gaussian smoothing width; default 1% of the spectral range.'),
    })
    .strict(),
  z
    .object({
      name: z.literal('inverse_hvp'),
      curvature,
      ...fisherOptions,
      vectors,
      damping: z.number().min(0).default(0).describe('delta in (H + delta I) x = b.'),
      tol: z.number().positive().default(1e-6).describe('Relative residual tolerance ||r||/||b||.'),
      maxIter: z.number().int().min(1).max(100000).optional().describe('Default: 10·P, capped at 10000.'),
    })
    .strict(),
  z
    .object({
      name: z.literal('kfac'),
      type: z
        .enum(['exact', 'mc'])
        .default('exact')
        .describe(
          'B from the exact loss-Hessian factor (C backpropagated columns per example) or from Monte-Carlo ' +
            'gradients at targets sampled from the model (seeded by `seed`).',
        ),
      samples: z
        .number()
        .int()
        .min(1)
        .max(10000)
        .default(1)
        .describe('Sampled targets per example for type "mc" (ignored by "exact").'),
      damping: z
        .number()
        .min(0)
        .default(0)
        .describe('delta in (K + delta I) x = v for inverse_products; K singular needs delta > 0.'),
      vectors: vectors.describe(
        'Optional k vectors of length P (rows), or an uploaded k×P .npy: returns products K v and inverse ' +
          'products (K + damping I)^-1 v.',
      ),
    })
    .strict()
    .describe(
      'Kronecker-factored approximation of the GGN (an approximation, exact for one example): per Dense layer ' +
        'A = mean of [a, 1][a, 1]^T over examples and B = sum of the backpropagated loss-Hessian factor columns ' +
        'delta delta^T; Dense chains with softmax/sigmoid cross-entropy or MSE only.',
    ),
  z
    .object({
      name: z.literal('finite_difference'),
      step: z
        .number()
        .positive()
        .optional()
        .describe('Base step; default cbrt(float32 eps) · max(1, |theta|∞).'),
    })
    .strict(),
]);
export type MethodSpec = z.output<typeof methodSpecSchema>;
export type MethodSpecInput = z.input<typeof methodSpecSchema>;
export type MethodName = MethodSpec['name'];
export const METHOD_NAMES = methodSpecSchema.options.map((o) => o.shape.name.value) as MethodName[];

/** Methods whose result is a dense P×P matrix (guarded by the memory limit). */
export const DENSE_METHODS: ReadonlySet<MethodName> = new Set([
  'hessian',
  'ggn',
  'fisher',
  'finite_difference',
]);
