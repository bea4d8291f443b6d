import type { ControlHandler } from '../context.js';
import { AwsError } from '../protocol.js';
import type { FaultInjector } from './injector.js';
import { faultOptionsSchema, type FaultOptions } from './options.js';

/**
 * `POST /__emulator/faults`: `{}` answers the figures so far; `{ "configure": {...} }` replaces the
 * fault options and `{ "resetStats": true }` starts the figures afresh (both answer the figures).
 */
export function faultControls(faults: FaultInjector): Record<string, ControlHandler> {
  return {
    faults: async (body) => {
      const { configure, resetStats, ...rest } = (body ?? {}) as {
        configure?: unknown;
        resetStats?: unknown;
      };
      if (Object.keys(rest).length)
        throw new AwsError('InvalidRequest', `unknown field ${Object.keys(rest)[0]}`);
      if (configure !== undefined) {
        const parsed = faultOptionsSchema.safeParse(configure);
        if (!parsed.success) {
          const issue = parsed.error.issues[0]!;
          throw new AwsError('InvalidRequest', `configure.${issue.path.join('.')}: ${issue.message}`);
        }
        faults.configure(configure as FaultOptions);
      }
      if (resetStats === true) faults.resetStats();
      return { options: faults.options, stats: faults.snapshot() };
    },
  };
}
