/**
 * The peer figures: each project figure (one `compute()` call on a workload of ../shared/bench/make_workloads.cjs)
 * with the torch_bench.py figures it is compared to and the targets of issue 10 (project on wasm / PyTorch with
 * 1 thread, same run). Shared by bench/peer.bench.ts (the parent) and bench/peer/figure.ts (one child per figure).
 */

export type WorkloadId = 'W1' | 'W2' | 'W3';

/** One torch_bench.py figure a project figure is compared to. */
export interface PeerComparison {
  /**
   * torch_bench.py's figure names (its JSON lines' `figure`): the comparison is against the fastest of them that
   * the peer measured. Another comparison of the same project figure naming just the chosen one is not shown.
   */
  figures: string[];
  /** Project time ≤ target × the peer figure (undefined: shown for information, no target). */
  target?: number;
  /** The peer figure covers this many Lanczos steps (compare per step). */
  steps?: number;
}

export interface FigureSpec {
  /** `${workload}/${name}` */
  id: string;
  workload: WorkloadId;
  /** Short name, as in project_bench.sh. */
  name: string;
  /** What is computed, for the table. */
  label: string;
  /** The request's `method`. */
  method: Record<string, unknown>;
  /** Send the workload's 10 × P v10.npy as `vectors`. */
  vectors?: boolean;
  /** Report time per Lanczos step (`summary.iterations`). */
  perStep?: boolean;
  peers: PeerComparison[];
}

const fig = (spec: Omit<FigureSpec, 'id'>): FigureSpec => ({ id: `${spec.workload}/${spec.name}`, ...spec });

export const FIGURES: FigureSpec[] = [
  fig({
    workload: 'W1',
    name: 'hvp_x10',
    label: '10 HVPs',
    method: { name: 'hvp' },
    vectors: true,
    peers: [{ figures: ['hvp_x10'], target: 10 }],
  }),
  fig({
    workload: 'W1',
    name: 'eigen_top1',
    label: 'top eigenvalue, Lanczos, per step',
    method: { name: 'eigen', k: 1 },
    perStep: true,
    peers: [{ figures: ['eigen_top1_lanczos20'], target: 10, steps: 20 }],
  }),
  fig({
    workload: 'W1',
    name: 'trace_hutchinson100',
    label: 'Hutchinson trace, 100 probes',
    method: { name: 'trace', estimator: 'hutchinson', probes: 100 },
    peers: [{ figures: ['trace_hutchinson100'], target: 10 }],
  }),
  fig({
    workload: 'W2',
    name: 'dense_hessian',
    label: 'dense Hessian',
    method: { name: 'hessian' },
    peers: [
      // The target applies to the fastest of PyTorch's three ways; the other two are shown too.
      {
        figures: ['dense_hessian_rows', 'dense_hessian_torch.func', 'dense_hessian_autograd.functional'],
        target: 5,
      },
      { figures: ['dense_hessian_rows'] },
      { figures: ['dense_hessian_torch.func'] },
      { figures: ['dense_hessian_autograd.functional'] },
    ],
  }),
  fig({
    workload: 'W2',
    name: 'dense_ggn',
    label: 'dense GGN',
    method: { name: 'ggn' },
    peers: [{ figures: ['dense_ggn_jacobian'], target: 1 }, { figures: ['dense_ggn_sqrt_backprop'] }],
  }),
  fig({
    workload: 'W2',
    name: 'diag_ggn',
    label: 'exact GGN diagonal',
    method: { name: 'diagonal', curvature: 'ggn' },
    peers: [
      { figures: ['diag_ggn_jacobian'], target: 1 },
      { figures: ['diag_ggn_sqrt_backprop'], target: 50 },
    ],
  }),
  fig({
    workload: 'W2',
    name: 'diag_hessian',
    label: 'exact Hessian diagonal',
    method: { name: 'diagonal', curvature: 'hessian' },
    peers: [],
  }),
  fig({
    workload: 'W3',
    name: 'hvp_x10',
    label: '10 HVPs',
    method: { name: 'hvp' },
    vectors: true,
    peers: [{ figures: ['hvp_x10'], target: 8 }],
  }),
];

/** What the parent sends a child (as one JSON argument). */
export interface FigureJob {
  figure: string;
  /** Directory of the workload: model.json, weights.bin, x.npy, y.npy, v10.npy. */
  dir: string;
  backend: 'wasm' | 'cpu';
  /**
   * A first run longer than this (s) is the only run; otherwise it is a warm-up followed by between minRepeats and
   * maxRepeats counted runs (as many as fit in about budgetSeconds).
   */
  slowSeconds: number;
  minRepeats: number;
  maxRepeats: number;
  budgetSeconds: number;
}

/** What a child prints (one line, after RESULT_MARKER). */
export interface FigureOutcome {
  figure: string;
  backend?: string;
  numParams?: number;
  /** methodSeconds of each counted run (the warm-up excluded). */
  methodSeconds?: number[];
  /** A warm-up run preceded the counted runs. */
  warmup?: boolean;
  /** Median over the counted runs of methodSeconds (or of methodSeconds / steps for per-step figures), ms. */
  medianMs?: number;
  /** Lanczos steps used (eigen). */
  steps?: number;
  verificationPassed?: boolean;
  /** Peak resident set size of the child process, MB (`process.resourceUsage().maxRSS`). */
  maxRssMB?: number;
  /** Peak of TF.js's tracked tensor bytes during the runs, MB. */
  tfPeakMB?: number;
  error?: string;
}

export const RESULT_MARKER = 'PEER_FIGURE_RESULT ';
