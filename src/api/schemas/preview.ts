/** A finished job's preview: bounded, plot-ready numbers for the results page (`GET /v1/jobs/{id}/preview`). */
import { z } from 'zod';

const numbers = z.array(z.number());
const histogram = z.object({
  edges: numbers.describe('bins + 1 increasing edges'),
  counts: z.array(z.number().int()),
});

const tensor = z.object({
  name: z.string(),
  layer: z.string(),
  shape: z.array(z.number().int()),
  offset: z.number().int(),
  size: z.number().int(),
});

export const jobPreviewSchema = z
  .object({
    jobId: z.string(),
    method: z.string(),
    numParams: z.number().int(),
    tensors: z
      .array(tensor)
      .optional()
      .describe("θ's layout: the trainable tensors in order (from the job's model, while it is stored)."),
    heatmap: z
      .object({
        artifact: z.string(),
        size: z.number().int().describe('P: the matrix is P×P.'),
        rows: z.number().int(),
        cols: z.number().int(),
        starts: z
          .array(z.number().int())
          .describe('First matrix row (and column) of each cell, then P: rows + 1 numbers.'),
        values: numbers.describe('Mean of the signed entries of each cell, row-major (rows × cols).'),
        min: z.number(),
        max: z.number(),
        maxAbs: z.number().describe('Largest |entry| of the whole matrix.'),
        nonFinite: z.number().int(),
      })
      .optional()
      .describe('A dense hessian, ggn or fisher as block means on at most 128×128 cells.'),
    histogram: z
      .object({
        artifact: z.string(),
        count: z.number().int(),
        nonFinite: z.number().int(),
        zeros: z.number().int(),
        min: z.number(),
        max: z.number(),
        linear: histogram,
        log10Abs: histogram.optional().describe('Of log10 |d| over the non-zero entries.'),
      })
      .optional()
      .describe('Histograms of a diagonal (methods diagonal, diagonal_estimate).'),
    perTensor: z
      .array(tensor.extend({ mean: z.number(), meanAbs: z.number(), maxAbs: z.number() }))
      .optional()
      .describe('Mean, mean |d| and max |d| of a diagonal per parameter tensor.'),
    density: z
      .object({
        grid: numbers,
        values: numbers,
        points: z.number().int().describe('Points computed (the preview thins to at most 1024).'),
      })
      .optional()
      .describe('The spectral density (method density).'),
    eigenvalues: z
      .object({
        values: numbers,
        source: z
          .enum(['eigen', 'ritz'])
          .describe(
            "eigen: the method's eigenvalues (at most 256); ritz: the 5 largest Ritz values of a density's first probe, largest first (≈ its top eigenvalues).",
          ),
        total: z.number().int().describe('How many the summary holds.'),
      })
      .optional()
      .describe('Eigenvalues to draw: bars for eigen, marks on the density.'),
    notes: z.array(z.string()).describe('Plots left out, and why.'),
  })
  .meta({ id: 'JobPreview' });

export type JobPreview = z.output<typeof jobPreviewSchema>;
