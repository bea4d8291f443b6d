import { describe, expect, it } from '@jest/globals';
import { localLimits } from '../../../local/serve/serve.js';

describe('session-lab serve limits', () => {
  it('keeps the deployed limits but provisions a class no wider than the workflows run at once', () => {
    const saved = process.env.MAX_CLASS_CONCURRENCY;
    try {
      delete process.env.MAX_CLASS_CONCURRENCY;
      expect(localLimits(3)).toEqual({
        maxLabs: 100,
        maxClassSize: 30,
        maxClassConcurrency: 3,
        defaultLabHours: 72,
        maxLabHours: 720,
        allowSeedPolicyMode: true,
      });
      process.env.MAX_CLASS_CONCURRENCY = '2';
      expect(localLimits(5).maxClassConcurrency).toBe(2);
    } finally {
      if (saved === undefined) delete process.env.MAX_CLASS_CONCURRENCY;
      else process.env.MAX_CLASS_CONCURRENCY = saved;
    }
  });
});
