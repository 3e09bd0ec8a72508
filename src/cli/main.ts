/**
 * `hessian <command>`: a thin dispatcher. Each command lives in its own module, loaded only when used, so
 * `hessian compute` never starts Fastify and `hessian serve` never loads TF.js in the API process.
 */
const COMMANDS: Record<string, () => Promise<{ main(argv: string[]): Promise<number | void> }>> = {
  compute: () => import('./compute.js'),
  serve: () => import('./serve.js'),
  worker: () => import('./worker.js'),
};

const USAGE = `usage: hessian <command> [options]

commands:
  compute   compute curvature of a TF.js model's loss and write result.json + .npy files
  serve     run the HTTP API (--embedded also runs a worker and, if needed, a private Redis)
  worker    run a job worker process

Run 'hessian <command> --help' for a command's options.`;

const [command, ...rest] = process.argv.slice(2);
if (!command || command === '--help' || command === '-h') {
  console.log(USAGE);
  process.exitCode = command ? 0 : 2;
} else if (!(command in COMMANDS)) {
  console.error(`hessian: unknown command '${command}'\n\n${USAGE}`);
  process.exitCode = 2;
} else {
  const module = await COMMANDS[command]();
  const code = await module.main(rest);
  if (typeof code === 'number') process.exitCode = code;
}
