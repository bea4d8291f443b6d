import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { STATE_MACHINES, type StateMachineName } from './functions.js';

/** The folder of the workflow definitions, deployed as they are and run by the local runner. */
export const STATE_MACHINE_DIR = fileURLToPath(new URL('../state-machine/', import.meta.url));

export const definitionPath = (name: StateMachineName): string => `${STATE_MACHINE_DIR}${name}.asl.json`;

/** Every `${Name}` definition-substitution placeholder a workflow file uses, sorted. */
export function placeholdersOf(name: StateMachineName): string[] {
  const text = readFileSync(definitionPath(name), 'utf8');
  return [...new Set([...text.matchAll(/\$\{([A-Za-z0-9]+)\}/g)].map((match) => match[1]!))].sort();
}

/** The names of the Task states, in every workflow, that invoke the function behind `placeholder`. */
export function statesInvoking(placeholder: string): string[] {
  const names = new Set<string>();
  const walk = (states: Record<string, Record<string, unknown>>) => {
    for (const [name, state] of Object.entries(states)) {
      const fn = (state.Parameters as { FunctionName?: unknown } | undefined)?.FunctionName;
      if (state.Type === 'Task' && fn === `\${${placeholder}}`) names.add(name);
      for (const branch of (state.Branches as { States: typeof states }[] | undefined) ?? [])
        walk(branch.States);
      const processor = state.ItemProcessor as { States: typeof states } | undefined;
      if (processor) walk(processor.States);
    }
  };
  for (const name of STATE_MACHINES) {
    walk(
      (
        JSON.parse(readFileSync(definitionPath(name), 'utf8')) as {
          States: Record<string, Record<string, unknown>>;
        }
      ).States,
    );
  }
  return [...names].sort();
}
