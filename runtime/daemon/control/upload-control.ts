/**
 * The control methods of the upload gate: `pause` ({ forMs?: number }: for that long, else until
 * `resume` or MAX_PAUSE_MS) and `resume`. Both answer the gate's state (UploadState).
 */

import { MAX_PAUSE_MS, type UploadGovernor } from '../upload/upload-governor.ts';
import { ControlError, type ControlMethod } from './control.ts';

export function uploadMethods(
  gate: UploadGovernor,
  log: (line: string) => void,
): Record<string, ControlMethod> {
  return {
    pause: async (params) => {
      const forMs = params.forMs;
      if (
        forMs !== undefined &&
        (typeof forMs !== 'number' || !Number.isSafeInteger(forMs) || forMs < 1 || forMs > MAX_PAUSE_MS)
      )
        throw new ControlError(
          'bad-argument',
          `a pause lasts from 1 ms to ${MAX_PAUSE_MS / 86_400_000} days`,
        );
      const state = gate.pause(forMs ?? null);
      log(`uploads paused until ${new Date(state.pausedUntilMs ?? Date.now()).toISOString()}`);
      return state;
    },
    resume: async () => {
      const state = gate.resume();
      log('uploads resumed');
      return state;
    },
  };
}
