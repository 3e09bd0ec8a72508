/**
 * The start of every long-running command (`serve`, `worker`): parse the options strictly, answer --help, load and
 * validate the configuration, each failure one line and an exit code (2 for usage, 1 for configuration).
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { ConfigError, loadConfig, type Config } from '../config/env.js';

export type OptionValues = Record<string, string | boolean | undefined>;

export type Prologue = { values: OptionValues; config: Readonly<Config> } | { exitCode: number };

/**
 * @param options - the command's options (`--help` is added).
 * @param env - environment overrides taken from the options (e.g. --port → PORT), applied over process.env.
 */
export function commandPrologue(
  command: string,
  argv: string[],
  options: NonNullable<ParseArgsConfig['options']>,
  help: string,
  env: (values: OptionValues) => Record<string, string | undefined> = () => ({}),
): Prologue {
  let values: OptionValues;
  try {
    values = parseArgs({
      args: argv,
      options: { ...options, help: { type: 'boolean', short: 'h', default: false } },
      strict: true,
    }).values as OptionValues;
  } catch (e) {
    console.error(`hessian ${command}: ${(e as Error).message}\n\n${help}`);
    return { exitCode: 2 };
  }
  if (values.help) {
    console.log(help);
    return { exitCode: 0 };
  }
  try {
    return { values, config: loadConfig({ ...process.env, ...env(values) }) };
  } catch (e) {
    if (e instanceof ConfigError) {
      console.error(`hessian ${command}: ${e.message}`);
      return { exitCode: 1 };
    }
    throw e;
  }
}
