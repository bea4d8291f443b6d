import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { StateMachineName } from './functions.js';

/** The folder of the workflow definitions, deployed as they are and run by the local runner. */
export const STATE_MACHINE_DIR = fileURLToPath(new URL('../state-machine/', import.meta.url));

export const definitionPath = (name: StateMachineName): string => `${STATE_MACHINE_DIR}${name}.asl.json`;

/** Every `${Name}` definition-substitution placeholder a workflow file uses, sorted. */
export function placeholdersOf(name: StateMachineName): string[] {
  const text = readFileSync(definitionPath(name), 'utf8');
  return [...new Set([...text.matchAll(/\$\{([A-Za-z0-9]+)\}/g)].map((match) => match[1]!))].sort();
}
