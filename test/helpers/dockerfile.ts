import path from 'node:path';

/**
 * Just enough of a Dockerfile reader for tests that cannot run a Docker engine: instructions
 * (continuation lines joined, comments dropped), grouped into stages, with the global ARG
 * defaults substituted into FROM, and COPY resolved against each stage's WORKDIR.
 */

export interface Instruction {
  keyword: string;
  /** Everything after the keyword, continuation lines joined. */
  args: string;
}

export interface Stage {
  name: string;
  from: string;
  instructions: Instruction[];
}

export interface CopyStep {
  /** The stage copied from, or null for the build context. */
  from: string | null;
  sources: string[];
  /** Absolute destination in the image. */
  dest: string;
  /** Whether files land inside `dest` (it ends with `/`, or several sources are copied). */
  intoDir: boolean;
}

export function parseInstructions(text: string): Instruction[] {
  const out: Instruction[] = [];
  let pending = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (pending === '' && (line === '' || line.startsWith('#'))) continue;
    if (pending !== '' && line.startsWith('#')) continue;
    if (line.endsWith('\\')) {
      pending += `${line.slice(0, -1).trim()} `;
      continue;
    }
    const whole = `${pending}${line}`.trim();
    pending = '';
    const m = /^(\S+)\s*([\s\S]*)$/.exec(whole);
    if (m) out.push({ keyword: m[1]!.toUpperCase(), args: m[2]!.trim() });
  }
  return out;
}

export function parseStages(text: string): Stage[] {
  const args = new Map<string, string>();
  const stages: Stage[] = [];
  for (const ins of parseInstructions(text)) {
    if (ins.keyword === 'ARG' && stages.length === 0) {
      const [name, value = ''] = ins.args.split('=', 2);
      args.set(name!, value);
    } else if (ins.keyword === 'FROM') {
      const m = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(ins.args);
      if (!m) throw new Error(`cannot read FROM ${ins.args}`);
      const from = m[1]!.replace(
        /\$\{(\w+)\}|\$(\w+)/g,
        (_, a?: string, b?: string) => args.get(a ?? b!) ?? '',
      );
      stages.push({ name: m[2] ?? String(stages.length), from, instructions: [] });
    } else if (stages.length > 0) {
      stages[stages.length - 1]!.instructions.push(ins);
    }
  }
  return stages;
}

/** An exec-form argument (`["a", "b"]`) as its list; throws on the shell form. */
export function execForm(args: string): string[] {
  const parsed = JSON.parse(args) as unknown;
  if (!Array.isArray(parsed) || !parsed.every((a) => typeof a === 'string')) {
    throw new Error(`not the exec form: ${args}`);
  }
  return parsed;
}

/** The COPY steps of a stage, destinations made absolute by the WORKDIR in force. */
export function copySteps(stage: Stage): CopyStep[] {
  let workdir = '/';
  const steps: CopyStep[] = [];
  for (const ins of stage.instructions) {
    if (ins.keyword === 'WORKDIR') workdir = path.posix.resolve(workdir, ins.args);
    if (ins.keyword !== 'COPY') continue;
    const words = ins.args.split(/\s+/);
    let from: string | null = null;
    const rest: string[] = [];
    for (const w of words) {
      if (w.startsWith('--from=')) from = w.slice('--from='.length);
      else if (!w.startsWith('--')) rest.push(w);
    }
    const dest = rest.pop()!;
    const intoDir = dest.endsWith('/') || dest === '.' || rest.length > 1;
    steps.push({ from, sources: rest, dest: path.posix.resolve(workdir, dest), intoDir });
  }
  return steps;
}

/** The shell commands a stage RUNs, one string each. */
export function runCommands(stage: Stage): string[] {
  return stage.instructions.filter((i) => i.keyword === 'RUN').map((i) => i.args);
}

/** The last value of an instruction in a stage (USER, ENTRYPOINT, …), or undefined. */
export function lastOf(stage: Stage, keyword: string): string | undefined {
  return stage.instructions.filter((i) => i.keyword === keyword).pop()?.args;
}
