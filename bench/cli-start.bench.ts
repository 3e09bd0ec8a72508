/**
 * How fast the installed `hessian` command answers a mistake (issue 12): the wall time of `bin/hessian.js compute`
 * with a mistyped option and of `--help`, each in a fresh process, as a user would run them. Runs the compiled
 * dist/ (run `npm run build` first), like the installed command.
 *
 *   node --import tsx bench/cli-start.bench.ts [--runs 10]
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { REPO_ROOT } from '../test/integration/helpers/stack.js';

const { values: v } = parseArgs({ options: { runs: { type: 'string', default: '10' } } });
const RUNS = Number(v.runs);
const BIN = path.join(REPO_ROOT, 'bin', 'hessian.js');
const CASE = path.join(REPO_ROOT, 'examples', 'tiny');
if (!existsSync(path.join(REPO_ROOT, 'dist', 'cli', 'main.js'))) {
  console.error('dist/ is missing: run `npm run build` first');
  process.exit(1);
}

const cases: Array<[string, string[], (status: number | null, stderr: string) => boolean]> = [
  [
    'a mistyped option',
    ['compute', '--methd', 'hessian'],
    (s, e) => s === 2 && /Unknown option '--methd'/.test(e),
  ],
  ['a required option missing', ['compute', '--method', 'hessian', '--out', os.tmpdir()], (s) => s === 2],
  [
    // Checked by the engine's request schema, after the files are read and TF.js is loaded.
    'an unknown method name',
    [
      'compute',
      ...['--model', path.join(CASE, 'model.json'), '--inputs', path.join(CASE, 'inputs.npy')],
      ...['--targets', path.join(CASE, 'targets.npy'), '--loss', 'mean_squared_error'],
      ...['--method', 'hesian', '--out', os.tmpdir()],
    ],
    (s, e) => s !== 0 && /method\.name/.test(e),
  ],
  ['--help', ['compute', '--help'], (s) => s === 0],
];
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const rows: string[] = [];
for (const [label, args, ok] of cases) {
  const times: number[] = [];
  for (let i = 0; i < RUNS + 1; i++) {
    const t0 = performance.now();
    const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8' });
    const ms = performance.now() - t0;
    if (!ok(r.status, r.stderr)) throw new Error(`${label}: exit ${r.status}, stderr ${r.stderr}`);
    if (i > 0) times.push(ms); // the first warms the file cache
  }
  const shown = args.map((a) => (a.startsWith(REPO_ROOT) ? path.relative(REPO_ROOT, a) : a)).join(' ');
  rows.push(
    `| ${label} | \`hessian ${shown}\` | ${median(times).toFixed(0)} | ${Math.max(...times).toFixed(0)} |`,
  );
}
console.log(
  `\n${new Date().toISOString()}: Node ${process.version}, ${os.cpus().length} × ${os.cpus()[0]?.model ?? '?'}, ` +
    `load average ${os
      .loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}; ${RUNS} runs each after one warm-up, fresh process each\n`,
);
console.log('| case | command | median ms | max ms |');
console.log('|---|---|---|---|');
for (const row of rows) console.log(row);
