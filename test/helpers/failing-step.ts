import { LabStepFailed } from '../../functions/shared/errors.js';
import { deployedHandler, type HandlerResolver } from '../../local/runner/runner.js';

/** The deployed functions, except `folder`, which fails permanently as a broken step would. */
export const failingStep =
  (folder: string): HandlerResolver =>
  async (name) =>
    name === folder
      ? async () => {
          throw new LabStepFailed(`injected permanent failure in ${folder}`);
        }
      : deployedHandler(name);
