import { readFileSync } from 'node:fs';
import { DockerfileParser } from 'dockerfile-ast';

export interface Instruction {
  keyword: string;
  /** The arguments as written (variables not expanded). */
  args: string;
  flags: Record<string, string>;
}

export interface Stage {
  name: string;
  /** The base image as written, e.g. `node:${NODE_VERSION}-bookworm-slim`. */
  image: string;
  instructions: Instruction[];
}

export interface Dockerfile {
  /** ARG defaults declared before the first FROM. */
  args: Record<string, string>;
  stages: Stage[];
}

/** The repository's Dockerfile as stages of instructions (parsed by dockerfile-ast). */
export function readDockerfile(file = 'Dockerfile'): Dockerfile {
  const parsed = DockerfileParser.parse(readFileSync(file, 'utf8'));
  const args: Record<string, string> = {};
  for (const arg of parsed.getInitialARGs()) {
    const property = arg.getProperty();
    if (property) args[property.getName()] = property.getValue() ?? '';
  }
  const stages: Stage[] = [];
  for (const instruction of parsed.getInstructions()) {
    const keyword = instruction.getKeyword();
    if (keyword === 'ARG' && stages.length === 0) continue;
    const args = instruction.getArgumentsContent() ?? '';
    if (keyword === 'FROM') {
      const [image = '', , name = String(stages.length)] = args.split(/\s+/);
      stages.push({ name, image, instructions: [] });
      continue;
    }
    const flags: Record<string, string> = {};
    const withFlags = instruction as unknown as { getFlags?: () => Array<{ getName(): string; getValue(): string | null }> };
    for (const flag of withFlags.getFlags?.() ?? []) flags[flag.getName()] = flag.getValue() ?? '';
    stages.at(-1)!.instructions.push({ keyword, args, flags });
  }
  return { args, stages };
}

/** The JSON-array form of CMD/HEALTHCHECK CMD, as an argv. */
export function execForm(args: string): string[] {
  const json = args.replace(/^CMD\s+/, '');
  const argv = JSON.parse(json) as unknown;
  if (!Array.isArray(argv) || !argv.every((a) => typeof a === 'string')) throw new Error(`not an exec-form array: ${args}`);
  return argv;
}
