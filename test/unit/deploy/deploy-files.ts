/**
 * Readers for the deployment files, for the static checks in this folder (no Docker engine runs the tests): a
 * small Dockerfile parser (stages, instructions, ARG defaults) and the compose file with YAML merge keys resolved.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';

export const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

export const readRootFile = (name: string): string => readFileSync(`${ROOT}${name}`, 'utf8');

export interface Instruction {
  keyword: string;
  /** The arguments with line continuations joined. */
  args: string;
}

export interface Stage {
  /** The image or stage it starts from, with global ARGs substituted. */
  from: string;
  name?: string;
  instructions: Instruction[];
}

export interface Dockerfile {
  /** ARGs declared before the first FROM, with their defaults. */
  globalArgs: Record<string, string>;
  stages: Stage[];
}

/** Parses a Dockerfile into stages; enough for the checks here (no heredocs, no parser directives beyond syntax). */
export function parseDockerfile(text: string): Dockerfile {
  const logical: string[] = [];
  let current = '';
  for (const raw of text.split('\n')) {
    const line = raw.trimEnd();
    if (current === '' && (line.trim() === '' || line.trim().startsWith('#'))) continue;
    // Comment lines inside a continued instruction are dropped by Docker too.
    if (current !== '' && line.trim().startsWith('#')) continue;
    if (line.endsWith('\\')) {
      current += `${line.slice(0, -1)} `;
      continue;
    }
    logical.push(`${current}${line}`.trim());
    current = '';
  }
  const globalArgs: Record<string, string> = {};
  const stages: Stage[] = [];
  const substitute = (s: string): string =>
    s.replace(/\$\{(\w+)\}/g, (_, name: string) => globalArgs[name] ?? '');
  for (const line of logical) {
    const m = /^(\w+)\s+([\s\S]*)$/.exec(line);
    if (!m) continue;
    const keyword = m[1].toUpperCase();
    const args = m[2].replace(/\s+/g, ' ').trim();
    if (keyword === 'FROM') {
      const from = /^(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?$/i.exec(args);
      if (!from) throw new Error(`cannot parse FROM ${args}`);
      stages.push({ from: substitute(from[1]), name: from[2], instructions: [] });
    } else if (stages.length === 0) {
      if (keyword === 'ARG') {
        const [name, value = ''] = args.split('=');
        globalArgs[name] = value;
      }
    } else {
      stages[stages.length - 1].instructions.push({ keyword, args });
    }
  }
  return { globalArgs, stages };
}

/** Instructions of a stage with the given keyword. */
export const instructions = (stage: Stage, keyword: string): string[] =>
  stage.instructions.filter((i) => i.keyword === keyword).map((i) => i.args);

/** ENV of one stage (`ENV A=1 B=2` form), not inherited ones. */
export function stageEnv(stage: Stage): Record<string, string> {
  const env: Record<string, string> = {};
  for (const args of instructions(stage, 'ENV')) {
    for (const m of args.matchAll(/(\w+)=("[^"]*"|\S+)/g)) env[m[1]] = m[2].replace(/^"|"$/g, '');
  }
  return env;
}

/** The stages a stage starts from, itself first, down to an external image. */
export function lineage(file: Dockerfile, name: string): Stage[] {
  const chain: Stage[] = [];
  let stage = file.stages.find((s) => s.name === name);
  while (stage) {
    chain.push(stage);
    const from = stage.from;
    stage = file.stages.find((s) => s.name === from);
  }
  return chain;
}

/** ENV in effect in a stage: its own over its bases'. */
export function effectiveEnv(file: Dockerfile, name: string): Record<string, string> {
  return Object.assign({}, ...lineage(file, name).reverse().map(stageEnv)) as Record<string, string>;
}

/** The last occurrence of a JSON-array (exec form) instruction in the stage or its bases. */
export function execForm(file: Dockerfile, name: string, keyword: string): string[] | undefined {
  for (const stage of lineage(file, name)) {
    const found = instructions(stage, keyword).at(-1);
    if (found !== undefined) return JSON.parse(found) as string[];
  }
  return undefined;
}

export interface ComposeService {
  image?: string;
  build?: { context?: string; target?: string };
  command?: string[];
  environment?: Record<string, string | number>;
  volumes?: string[];
  ports?: string[];
  profiles?: string[];
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: { test: string[] };
  deploy?: {
    resources?: {
      reservations?: {
        devices?: { driver?: string; count?: number; device_ids?: string[]; capabilities?: string[] }[];
      };
    };
  };
  container_name?: string;
  [key: string]: unknown;
}

export interface ComposeFile {
  services: Record<string, ComposeService>;
  volumes: Record<string, unknown>;
}

/** The compose file, with `<<` merge keys resolved as Docker Compose does. */
export const readCompose = (): ComposeFile =>
  parse(readRootFile('docker-compose.yml'), { merge: true }) as ComposeFile;

/** The exec-form command of the HEALTHCHECK in effect for a stage. */
export function healthcheck(file: Dockerfile, name: string): string[] | undefined {
  for (const stage of lineage(file, name)) {
    const found = instructions(stage, 'HEALTHCHECK').at(-1);
    if (found !== undefined) {
      const cmd = /\bCMD\s+(\[.*\])$/.exec(found);
      if (!cmd) throw new Error(`HEALTHCHECK of ${name} is not in exec form: ${found}`);
      return JSON.parse(cmd[1]) as string[];
    }
  }
  return undefined;
}
