import { DEFAULT_LOCAL_TIME_SCALE, openTarget } from '../../../cli/target.js';

describe('openTarget (local)', () => {
  const saved = { ...process.env };
  afterEach(() => {
    process.env = { ...saved };
  });

  it('starts its own emulator at the default time scale and runs the workflow at the same scale', async () => {
    // npm start relies on this: at the emulator's own default the registration budget is too short.
    delete process.env.AWS_ENDPOINT_URL;
    const target = await openTarget({});
    try {
      expect(target.kind).toBe('local');
      expect(target.timeScale).toBe(DEFAULT_LOCAL_TIME_SCALE);
      expect(process.env.AWS_ENDPOINT_URL).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    } finally {
      await target.close();
    }
    expect(process.env.AWS_ENDPOINT_URL).toBeUndefined();
  });

  it('honours an explicit scale', async () => {
    delete process.env.AWS_ENDPOINT_URL;
    const target = await openTarget({ timeScale: 0.2 });
    try {
      expect(target.timeScale).toBe(0.2);
    } finally {
      await target.close();
    }
  });
});
