import { activationTierArn, labIdSchema, labNames, LAB_HOSTS } from '../../../functions/shared/names.js';
import {
  labTags,
  sharedTags,
  toTagRecord,
  TAG_LAB_ID,
  TAG_MANAGED_BY,
} from '../../../functions/shared/tags.js';

describe('labIdSchema', () => {
  it.each(['abc', 'demo', 'class-7-student-12', 'a'.repeat(32), '123'])('accepts %s', (id) => {
    expect(labIdSchema.safeParse(id).success).toBe(true);
  });

  it.each(['ab', 'a'.repeat(33), 'Demo', 'demo_1', '-demo', 'demo-', 'de mo', 'demo;rm', ''])(
    'rejects %j',
    (id) => {
      expect(labIdSchema.safeParse(id).success).toBe(false);
    },
  );
});

describe('labNames', () => {
  const names = labNames('demo');

  it("keeps the seed's names with the lab id added", () => {
    expect(names.user).toBe('MyWorkshopUser-demo');
    expect(names.userPolicy).toBe('SSMDevAccess-demo');
    expect(names.host('DevOnPrem')).toBe('DevOnPrem-demo');
    expect(names.host('Bootstrap')).toContain('Bootstrap');
  });

  it('keeps every secret under the lab path', () => {
    expect(names.privateKeyParameter.startsWith('/session-lab/demo/')).toBe(true);
    expect(names.activationCodeParameter('Prod')).toBe('/session-lab/demo/activation/Prod/code');
    expect(names.passwordSecret).toContain('demo');
  });

  it('fits IAM name limits for the longest lab id', () => {
    const longest = labNames('a'.repeat(32));
    expect(longest.user.length).toBeLessThanOrEqual(64);
    expect(longest.userPolicy.length).toBeLessThanOrEqual(128);
  });

  it('lists the four seed hosts and the bootstrap host', () => {
    expect(LAB_HOSTS.map((h) => h.role)).toEqual([
      'ProdEC2Instance',
      'DevEC2Instance',
      'ProdOnPrem',
      'DevOnPrem',
      'Bootstrap',
    ]);
  });

  it('builds the activation tier ARN that UpdateServiceSetting requires', () => {
    expect(activationTierArn('us-east-1', '123456789012')).toBe(
      'arn:aws:ssm:us-east-1:123456789012:servicesetting/ssm/managed-instance/activation-tier',
    );
  });
});

describe('tags', () => {
  it('tags a lab resource with the lab id, the manager and any extra', () => {
    expect(toTagRecord(labTags('demo', { Environment: 'Dev' }))).toEqual({
      [TAG_LAB_ID]: 'demo',
      [TAG_MANAGED_BY]: 'session-lab',
      Environment: 'Dev',
    });
  });

  it('tags a shared resource without a lab id', () => {
    expect(toTagRecord(sharedTags())).toEqual({ [TAG_MANAGED_BY]: 'session-lab' });
  });
});
