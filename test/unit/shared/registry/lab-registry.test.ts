import { labRegistry, requiredLabRegistry } from '../../../../functions/shared/registry/lab-registry.js';

describe('the registry from the environment', () => {
  it('reads REGISTRY_TABLE: none is no registry, a malformed name fails naming the variable', () => {
    const region = process.env.AWS_REGION;
    process.env.AWS_REGION = 'us-east-1';
    try {
      expect(labRegistry({})).toBeUndefined();
      expect(labRegistry({ REGISTRY_TABLE: 'labs' })?.table.name).toBe('labs');
    } finally {
      if (region === undefined) delete process.env.AWS_REGION;
      else process.env.AWS_REGION = region;
    }
    expect(() => labRegistry({ REGISTRY_TABLE: 'bad name!' })).toThrow(/^REGISTRY_TABLE: /);
    expect(() => requiredLabRegistry({})).toThrow(/REGISTRY_TABLE/);
  });
});
