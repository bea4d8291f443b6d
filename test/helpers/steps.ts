import {
  folderOfFunctionArn,
  loadDefinition,
  type StateMachineName,
} from '../../local/runner/definitions.js';

/** Every Lambda Task state of a definition with the function folder it runs, at any depth, in document order. */
export function lambdaSteps(definition: unknown, found = new Map<string, string>()): Map<string, string> {
  if (Array.isArray(definition)) definition.forEach((item) => lambdaSteps(item, found));
  else if (definition && typeof definition === 'object') {
    const states = (definition as { States?: Record<string, Record<string, unknown>> }).States ?? {};
    for (const [name, state] of Object.entries(states)) {
      const fn = (state.Parameters as { FunctionName?: unknown } | undefined)?.FunctionName;
      const folder = state.Type === 'Task' && typeof fn === 'string' ? folderOfFunctionArn(fn) : undefined;
      if (folder) found.set(name, folder);
    }
    Object.values(definition).forEach((value) => lambdaSteps(value, found));
  }
  return found;
}

/** The Lambda steps of a shipped workflow: state name -> function folder. */
export const workflowSteps = (name: StateMachineName) => lambdaSteps(loadDefinition(name, 'us-east-1'));

/**
 * Functions that only keep books (the lab registry) and create nothing in the account: a run that
 * refuses its input may still record that it did.
 */
export const BOOKKEEPING_FUNCTIONS = new Set(['validate-lab-input', 'record-lab-status']);
