import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** The workflows shipped in state-machine/, deployed by infra/ and run locally by this runner. */
export const STATE_MACHINES = ['provision-lab', 'teardown-lab', 'reset-lab', 'provision-class'] as const;
export type StateMachineName = (typeof STATE_MACHINES)[number];

const LOCAL_ACCOUNT = '123456789012';
const FUNCTION_PREFIX = 'session-lab-';

/** `create-instance-role` -> `CreateInstanceRole`: the placeholder stem infra/ and this runner agree on. */
export const pascalCase = (folder: string) =>
  folder
    .split('-')
    .map((part) => part.charAt(0).toUpperCase() + part.slice(1))
    .join('');

export const localFunctionArn = (folder: string, region: string) =>
  `arn:aws:lambda:${region}:${LOCAL_ACCOUNT}:function:${FUNCTION_PREFIX}${folder}`;
export const localStateMachineArn = (name: string, region: string) =>
  `arn:aws:states:${region}:${LOCAL_ACCOUNT}:stateMachine:${FUNCTION_PREFIX}${name}`;

/** The function folder behind a local function ARN, or undefined for anything else. */
export function folderOfFunctionArn(arn: string): string | undefined {
  const match = /:function:session-lab-([a-z0-9-]+)$/.exec(arn);
  return match?.[1];
}

export function stateMachineOfArn(arn: string): StateMachineName | undefined {
  const match = /:stateMachine:session-lab-([a-z0-9-]+)$/.exec(arn);
  return STATE_MACHINES.find((name) => name === match?.[1]);
}

const PLACEHOLDER = /\$\{([A-Za-z0-9]+)(FunctionArn|StateMachineArn)\}/g;

/** `CreateInstanceRole` -> `create-instance-role`: the function folder a placeholder names. */
export const kebabCase = (stem: string) => stem.replace(/(?<!^)([A-Z])/g, '-$1').toLowerCase();

/**
 * Reads a workflow file and fills its `${XFunctionArn}` / `${XStateMachineArn}` placeholders with
 * local ARNs from which the runner can find the handler (or child workflow) again.
 */
export function loadDefinition(name: StateMachineName, region: string): unknown {
  const path = fileURLToPath(new URL(`../../state-machine/${name}.asl.json`, import.meta.url));
  const text = readFileSync(path, 'utf8').replace(PLACEHOLDER, (whole, stem: string, kind: string) => {
    if (kind === 'StateMachineArn') {
      const machine = STATE_MACHINES.find((m) => pascalCase(m) === stem);
      if (!machine) throw new Error(`${name}: no state machine for placeholder ${whole}`);
      return localStateMachineArn(machine, region);
    }
    const folder = kebabCase(stem);
    if (!existsSync(fileURLToPath(new URL(`../../functions/${folder}/handler.ts`, import.meta.url)))) {
      throw new Error(`${name}: placeholder ${whole} names functions/${folder}, which has no handler.ts`);
    }
    return localFunctionArn(folder, region);
  });
  return JSON.parse(text);
}

type Json = unknown;

/**
 * Scales every pause in a definition by `scale` (Wait `Seconds`, Retry `IntervalSeconds` and
 * `MaxDelaySeconds`), keeping backoff rates, so a local run takes the same shape in less time.
 * Waits read from a path are scaled by the runner's wait overrides instead.
 */
export function scalePauses(definition: Json, scale: number): Json {
  if (Array.isArray(definition)) return definition.map((item) => scalePauses(item, scale));
  if (!definition || typeof definition !== 'object') return definition;
  const out: Record<string, Json> = {};
  for (const [key, value] of Object.entries(definition)) {
    const scalable = key === 'IntervalSeconds' || key === 'MaxDelaySeconds' || key === 'Seconds';
    out[key] = scalable && typeof value === 'number' ? value * scale : scalePauses(value, scale);
  }
  return out;
}

/** The resource of the local stand-in for a Wait state whose duration is read from state. */
export const LOCAL_SLEEP_RESOURCE = 'arn:aws:states:::session-lab:local-sleep';

/**
 * Rewrites each `Wait` with `SecondsPath` into a Task on LOCAL_SLEEP_RESOURCE carrying the resolved
 * seconds, so the runner can pause for them scaled (aws-local-stepfunctions only accepts whole
 * seconds from a path, which cannot be scaled in place). Returns the rewritten state names too.
 */
export function localizePathWaits(
  definition: Json,
  rewritten = new Set<string>(),
  /** Rewrite fixed `Seconds` Waits too (the bench's virtual clock sleeps for every Wait). */
  options: { fixed?: boolean } = {},
): { definition: Json; rewritten: Set<string> } {
  const visit = (node: Json): Json => {
    if (Array.isArray(node)) return node.map(visit);
    if (!node || typeof node !== 'object') return node;
    const out: Record<string, Json> = {};
    for (const [key, value] of Object.entries(node)) out[key] = visit(value);
    const states = out.States as Record<string, Record<string, Json>> | undefined;
    if (states && typeof states === 'object') {
      for (const [name, state] of Object.entries(states)) {
        if (state.Type !== 'Wait') continue;
        const fixed = options.fixed === true && typeof state.Seconds === 'number';
        if (typeof state.SecondsPath !== 'string' && !fixed) continue;
        const { SecondsPath, Seconds, Next, End, Comment } = state;
        states[name] = {
          Type: 'Task',
          Resource: LOCAL_SLEEP_RESOURCE,
          Parameters: fixed ? { seconds: Seconds } : { 'seconds.$': SecondsPath },
          ResultPath: null,
          ...(Comment === undefined ? {} : { Comment }),
          ...(Next === undefined ? {} : { Next }),
          ...(End === undefined ? {} : { End }),
        };
        rewritten.add(name);
      }
    }
    return out;
  };
  return { definition: visit(definition), rewritten };
}
