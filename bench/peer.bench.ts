/**
 * The project against PyTorch on the peer workloads W1–W3 of ../shared/bench (same run, as ratios). Run:
 *   npm run bench                                  (all figures, wasm, PyTorch when /usr/bin/python3 has torch)
 *   npm run bench -- --only W2 --skip-peer         (iterate on some figures; --only W1/eigen_top1,diag_ggn works too)
 *   npm run bench -- --backend cpu --json out.json (another backend; the table and machine info as JSON)
 * Writes the workloads with make_workloads.cjs into a temporary directory (or uses --workloads DIR), times each
 * project figure in its own child process (bench/peer/figure.ts: compute() directly, timings.methodSeconds, peak RSS),
 * then runs torch_bench.py (1 thread) under a wrapper reporting its whole-run peak RSS, and prints a markdown table.
 * See docs/benchmarks.md, "Against PyTorch".
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import {
  FIGURES,
  RESULT_MARKER,
  type FigureJob,
  type FigureOutcome,
  type FigureSpec,
  type PeerComparison,
} from './peer/figures.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const FIGURE_SCRIPT = path.join(ROOT, 'bench', 'peer', 'figure.ts');

const HELP = `usage: npm run bench -- [--backend wasm|cpu] [--only W2,W1/eigen_top1,...] [--skip-peer] [--json FILE]
                       [--workloads DIR] [--shared DIR] [--python PATH]

  --backend    the project's TF.js backend (default wasm)
  --only       workloads (W1), figure ids (W1/hvp_x10) or names (diag_ggn), comma separated; the PyTorch
               script always runs all its figures (~2.5 min)
  --skip-peer  do not run torch_bench.py
  --json FILE  also write the table, the raw figures and machine info as JSON
  --workloads  an existing make_workloads.cjs output directory (default: written to a temporary directory)
  --shared     the peer bench directory (default ../shared/bench)
  --python     the interpreter with torch (default /usr/bin/python3)

figures: ${FIGURES.map((f) => f.id).join(', ')}`;

/** torch_bench.py under a wrapper that adds one line with the interpreter's peak RSS over the whole run. */
const PEER_WRAPPER = `import json, resource, runpy, sys
script = sys.argv[1]; sys.argv = [script]
runpy.run_path(script, run_name='__main__')
sys.stdout.flush()
print(json.dumps({'whole_run_max_rss_kb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}), flush=True)`;

interface PeerLine {
  peer: string;
  threads: number;
  workload: string;
  figure: string;
  ms: number | string;
}

interface PeerRun {
  ran: boolean;
  /** Why it did not run, or how it failed. */
  note?: string;
  version?: string;
  lines: PeerLine[];
  maxRssMB?: number;
  wallSeconds?: number;
}

interface Row {
  workload: string;
  figure: string;
  label: string;
  peerFigure?: string;
  /** Peer time compared (per Lanczos step for per-step figures), ms. */
  peerMs?: number;
  /** The peer figure as torch_bench.py printed it (all steps), ms. */
  peerFigureMs?: number;
  peerSteps?: number;
  projectMs?: number;
  projectSteps?: number;
  projectRuns?: number;
  projectWarmup?: boolean;
  ratio?: number;
  target?: number;
  met?: boolean;
  projectMaxRssMB?: number;
  projectTfPeakMB?: number;
  peerWholeRunMaxRssMB?: number;
  verificationPassed?: boolean;
  error?: string;
  note?: string;
}

const log = (msg: string) => process.stderr.write(msg + '\n');

function run(
  cmd: string,
  args: string[],
  opts: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs: number; onLine?: (line: string) => void },
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: opts.cwd, env: opts.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let pending = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk;
      pending += chunk;
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) opts.onLine?.(line);
    });
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      if (pending) opts.onLine?.(pending);
      resolve({ code, stdout, stderr });
    });
  });
}

/** The first line of a child's stderr that names an error (else its last line). */
function firstError(stderr: string): string {
  const lines = stderr.trim().split('\n');
  return (lines.find((l) => /error/i.test(l)) ?? lines[lines.length - 1] ?? '').trim();
}

function selected(spec: FigureSpec, only: string[] | undefined): boolean {
  return !only || only.some((t) => t === spec.workload || t === spec.id || t === spec.name);
}

async function projectFigure(spec: FigureSpec, workloads: string, backend: FigureJob['backend']) {
  const job: FigureJob = {
    figure: spec.id,
    dir: path.join(workloads, spec.workload),
    backend,
    slowSeconds: 2,
    minRepeats: 3,
    maxRepeats: 10,
    budgetSeconds: 3,
  };
  const t0 = performance.now();
  const r = await run(process.execPath, ['--import', 'tsx', FIGURE_SCRIPT, JSON.stringify(job)], {
    cwd: ROOT,
    timeoutMs: 30 * 60_000,
  });
  const line = r.stdout.split('\n').find((l) => l.startsWith(RESULT_MARKER));
  const outcome: FigureOutcome = line
    ? JSON.parse(line.slice(RESULT_MARKER.length))
    : {
        figure: spec.id,
        error: `child exited ${r.code}: ${firstError(r.stderr)}`,
      };
  const wall = ((performance.now() - t0) / 1000).toFixed(1);
  log(
    outcome.error
      ? `  ${spec.id}: ERROR ${outcome.error}`
      : `  ${spec.id}: ${fmtMs(outcome.medianMs)} ms${outcome.steps ? '/step' : ''}, ` +
          `${outcome.methodSeconds?.length} run(s), RSS ${outcome.maxRssMB?.toFixed(0)} MB (child ${wall} s)`,
  );
  return outcome;
}

async function runPeer(shared: string, python: string): Promise<PeerRun> {
  const script = path.join(shared, 'torch_bench.py');
  if (spawnSync(python, ['-c', 'import torch'], { stdio: 'ignore' }).status !== 0) {
    return { ran: false, note: `${python} cannot import torch: PyTorch peer not run`, lines: [] };
  }
  const env: NodeJS.ProcessEnv = { ...process.env, OPENBLAS_NUM_THREADS: '1', OMP_NUM_THREADS: '1' };
  delete env.OPENBLAS_CORETYPE;
  delete env.OPENBLAS_L2_SIZE;
  const lines: PeerLine[] = [];
  let maxRssMB: number | undefined;
  const t0 = performance.now();
  log(`PyTorch: ${python} ${script} (1 thread, about 2.5 min)`);
  const r = await run(python, ['-c', PEER_WRAPPER, script], {
    cwd: shared,
    env,
    timeoutMs: 30 * 60_000,
    onLine: (line) => {
      if (!line.trim().startsWith('{')) return;
      const j = JSON.parse(line);
      if ('whole_run_max_rss_kb' in j) maxRssMB = j.whole_run_max_rss_kb / 1024;
      else {
        lines.push(j as PeerLine);
        log(`  ${j.workload}/${j.figure}: ${j.ms} ms`);
      }
    },
  });
  const wallSeconds = (performance.now() - t0) / 1000;
  const version = lines[0]?.peer.replace(/^torch /, '');
  if (r.code !== 0) {
    const tail = firstError(r.stderr);
    return {
      ran: true,
      note: `torch_bench.py exited ${r.code}: ${tail}`,
      version,
      lines,
      maxRssMB,
      wallSeconds,
    };
  }
  return { ran: true, version, lines, maxRssMB, wallSeconds };
}

function peerMs(peer: PeerRun, workload: string, figure: string): number | undefined {
  const line = peer.lines.find((l) => l.workload === workload && l.figure === figure);
  return typeof line?.ms === 'number' ? line.ms : undefined;
}

function rowsFor(spec: FigureSpec, outcome: FigureOutcome, peer: PeerRun): Row[] {
  const base: Row = {
    workload: spec.workload,
    figure: spec.name,
    label: spec.label,
    projectMs: outcome.medianMs,
    projectSteps: outcome.steps,
    projectRuns: outcome.methodSeconds?.length,
    projectWarmup: outcome.warmup,
    projectMaxRssMB: outcome.maxRssMB,
    projectTfPeakMB: outcome.tfPeakMB,
    peerWholeRunMaxRssMB: peer.maxRssMB,
    verificationPassed: outcome.verificationPassed,
    error: outcome.error,
  };
  if (spec.peers.length === 0) return [{ ...base, note: 'torch_bench.py has no such figure' }];
  if (peer.lines.length === 0) {
    return [
      {
        ...base,
        target: spec.peers.find((p) => p.target !== undefined)?.target,
        note: peer.ran ? 'peer failed' : 'peer not run',
      },
    ];
  }
  const rows: Row[] = [];
  const chosen = new Set<string>();
  const compare = (c: PeerComparison): Row => {
    const measured = c.figures
      .map((f) => ({ f, ms: peerMs(peer, spec.workload, f) }))
      .filter((x): x is { f: string; ms: number } => x.ms !== undefined)
      .sort((a, b) => a.ms - b.ms);
    const best = measured[0];
    const fastestOf = c.figures.length > 1 ? `fastest of ${c.figures.length}` : undefined;
    if (!best) {
      const printed = peer.lines.find((l) => l.workload === spec.workload && c.figures.includes(l.figure));
      return {
        ...base,
        peerFigure: c.figures.join(', '),
        target: c.target,
        note: printed
          ? `\`${printed.figure}\`: ${printed.ms}`
          : peer.ran
            ? 'peer figure missing'
            : 'peer not run',
      };
    }
    if (c.target !== undefined) chosen.add(best.f);
    const peerCompared = c.steps ? best.ms / c.steps : best.ms;
    const ratio = base.projectMs !== undefined ? base.projectMs / peerCompared : undefined;
    return {
      ...base,
      peerFigure: best.f,
      peerMs: peerCompared,
      peerFigureMs: best.ms,
      peerSteps: c.steps,
      ratio,
      target: c.target,
      met: c.target !== undefined && ratio !== undefined ? ratio <= c.target : undefined,
      note: fastestOf,
    };
  };
  for (const c of spec.peers.filter((p) => p.target !== undefined)) rows.push(compare(c));
  for (const c of spec.peers.filter((p) => p.target === undefined)) {
    if (c.figures.length === 1 && chosen.has(c.figures[0])) continue;
    rows.push(compare(c));
  }
  return rows;
}

function fmtMs(ms: number | undefined): string {
  if (ms === undefined) return '—';
  if (ms >= 100) return ms.toFixed(0);
  if (ms >= 10) return ms.toFixed(1);
  if (ms >= 1) return ms.toFixed(2);
  return ms.toFixed(3);
}

function fmtRatio(r: number | undefined): string {
  if (r === undefined) return '—';
  return `${r >= 10 ? r.toFixed(1) : r >= 0.1 ? r.toFixed(2) : r.toPrecision(2)}×`;
}

function markdown(rows: Row[], peer: PeerRun, backend: string): string {
  const header = [
    'workload',
    'figure',
    `PyTorch${peer.version ? ` ${peer.version}` : ''} ms (torch_bench.py figure)`,
    `project (${backend}) ms (runs)`,
    'project / PyTorch',
    'target',
    'met',
    'peak RSS MB: project figure / PyTorch whole run',
    'TF.js peak tensor MB',
  ];
  const lines = [`| ${header.join(' | ')} |`, `|${header.map(() => '---').join('|')}|`];
  for (const r of rows) {
    const perStep = r.peerSteps !== undefined || r.projectSteps !== undefined;
    const peerCell =
      r.peerMs === undefined
        ? (r.note ?? '—')
        : perStep && r.peerSteps
          ? `${fmtMs(r.peerMs)}/step (\`${r.peerFigure}\`: ${fmtMs(r.peerFigureMs)} / ${r.peerSteps})`
          : `${fmtMs(r.peerMs)} (\`${r.peerFigure}\`${r.note ? `, ${r.note}` : ''})`;
    const runs = r.projectRuns
      ? `${r.projectRuns} run${r.projectRuns > 1 ? 's' : ''}${r.projectWarmup ? ' + warm-up' : ', cold'}`
      : '';
    const projectCell = r.error
      ? `error: ${r.error.slice(0, 80)}`
      : r.projectSteps
        ? `${fmtMs(r.projectMs)}/step (${r.projectSteps} steps, ${runs})`
        : `${fmtMs(r.projectMs)} (${runs})`;
    const met = r.met === undefined ? '—' : r.met ? 'yes' : '**no**';
    const rss = `${r.projectMaxRssMB?.toFixed(0) ?? '—'} / ${r.peerWholeRunMaxRssMB?.toFixed(0) ?? '—'}`;
    lines.push(
      `| ${[
        r.workload,
        r.label + (r.verificationPassed === false ? ' (verification failed)' : ''),
        peerCell,
        projectCell,
        fmtRatio(r.ratio),
        r.target !== undefined ? `≤ ${r.target}×` : '—',
        met,
        rss,
        r.projectTfPeakMB?.toFixed(1) ?? '—',
      ]
        .map((cell) => cell.replace(/\|/g, '\\|'))
        .join(' | ')} |`,
    );
  }
  return lines.join('\n');
}

async function main() {
  const { values: v } = parseArgs({
    options: {
      backend: { type: 'string', default: 'wasm' },
      only: { type: 'string' },
      'skip-peer': { type: 'boolean', default: false },
      json: { type: 'string' },
      workloads: { type: 'string' },
      shared: { type: 'string', default: path.resolve(ROOT, '..', 'shared', 'bench') },
      python: { type: 'string', default: '/usr/bin/python3' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (v.help) {
    console.log(HELP);
    return;
  }
  const backend = v.backend as FigureJob['backend'];
  if (backend !== 'wasm' && backend !== 'cpu')
    throw new Error(`--backend must be wasm or cpu, got ${backend}`);
  const only = v.only?.split(',').map((s) => s.trim());
  const specs = FIGURES.filter((f) => selected(f, only));
  if (specs.length === 0) throw new Error(`--only ${v.only} selects no figure (see --help)`);
  const started = new Date();
  const loadavg = os.loadavg();

  let workloads = v.workloads;
  let temporary: string | undefined;
  if (!workloads) {
    temporary = workloads = mkdtempSync(path.join(os.tmpdir(), 'peer-workloads-'));
    const made = spawnSync(process.execPath, [path.join(v.shared, 'make_workloads.cjs'), workloads], {
      env: { ...process.env, NODE_PATH: path.join(ROOT, 'node_modules') },
      encoding: 'utf8',
    });
    if (made.status !== 0) throw new Error(`make_workloads.cjs failed: ${made.stderr}`);
    log(`workloads written to ${workloads}`);
  }

  try {
    log(`project (${backend}): ${specs.length} figure(s), one child process each`);
    const outcomes: FigureOutcome[] = [];
    for (const spec of specs) outcomes.push(await projectFigure(spec, workloads, backend));

    const peer: PeerRun = v['skip-peer']
      ? { ran: false, note: 'PyTorch peer not run (--skip-peer)', lines: [] }
      : await runPeer(v.shared, v.python);

    const rows = specs.flatMap((spec, i) => rowsFor(spec, outcomes[i], peer));
    const cpu = os.cpus();
    const machine = {
      cpuModel: cpu[0]?.model ?? 'unknown',
      cores: cpu.length,
      node: process.version,
      platform: `${os.platform()} ${os.release()}`,
      loadavgAtStart: loadavg.map((x) => Number(x.toFixed(2))),
      torch: peer.version ?? null,
    };
    const table = markdown(rows, peer, outcomes.find((o) => o.backend)?.backend ?? backend);
    const notes = [
      `${started.toISOString()}: Node ${machine.node}, ${machine.cores} × ${machine.cpuModel}, ` +
        `load average at start ${machine.loadavgAtStart.join(' ')}` +
        (peer.version ? `, PyTorch ${peer.version} (1 thread, OpenBLAS 1 thread)` : ''),
      `Project: engine compute() on ${backend}, timings.methodSeconds (no loading, no verification); median of the ` +
        'counted runs after one warm-up when the first run took < 2 s (3–10 runs), else the single cold run. ' +
        'Eigen: time / Lanczos steps used (summary.iterations), against torch_bench.py’s 20-step Lanczos / 20.',
      'PyTorch: torch_bench.py’s own medians. Peak RSS: each project figure in its own Node process (maxRSS, ' +
        'includes the warm-up and verification); PyTorch is the whole torch_bench.py run (all its figures).',
      ...(peer.note ? [peer.note] : []),
    ];
    console.log(`\n${notes.join('\n\n')}\n\n${table}\n`);
    if (v.json) {
      mkdirSync(path.dirname(path.resolve(v.json)), { recursive: true });
      writeFileSync(
        v.json,
        JSON.stringify(
          {
            date: started.toISOString(),
            machine,
            backend,
            peer: {
              ran: peer.ran,
              note: peer.note,
              version: peer.version,
              wholeRunMaxRssMB: peer.maxRssMB,
              wallSeconds: peer.wallSeconds,
              figures: peer.lines,
            },
            project: outcomes,
            rows,
            notes,
            markdown: table,
          },
          null,
          2,
        ) + '\n',
      );
      log(`JSON written to ${v.json}`);
    }
    if (outcomes.some((o) => o.error) || (peer.ran && peer.note)) process.exitCode = 1;
  } finally {
    if (temporary) rmSync(temporary, { recursive: true, force: true });
  }
}

await main();
