import {
  activationTierArn,
  isSupersededPolicy,
  labIdSchema,
  labNames,
  LAB_HOSTS,
  managedPolicies,
  partitionOf,
} from '../../../functions/shared/names.js';
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

describe('partitionOf', () => {
  it.each([
    ['us-east-1', 'aws'],
    ['eu-west-3', 'aws'],
    ['ap-southeast-7', 'aws'],
    ['il-central-1', 'aws'],
    ['cn-north-1', 'aws-cn'],
    ['cn-northwest-1', 'aws-cn'],
    ['us-gov-west-1', 'aws-us-gov'],
    ['us-iso-east-1', 'aws-iso'],
    ['us-isob-east-1', 'aws-iso-b'],
    ['us-isof-south-1', 'aws-iso-f'],
    ['eu-isoe-west-1', 'aws-iso-e'],
    ['eusc-de-east-1', 'aws-eusc'],
  ])('%s is in %s', (region, partition) => {
    expect(partitionOf(region)).toBe(partition);
  });

  it('names the resources of a China Region in aws-cn: the activation tier and the managed policies', () => {
    expect(activationTierArn('cn-north-1', '123456789012')).toBe(
      'arn:aws-cn:ssm:cn-north-1:123456789012:servicesetting/ssm/managed-instance/activation-tier',
    );
    expect(managedPolicies(partitionOf('cn-north-1')).ssmCore).toBe(
      'arn:aws-cn:iam::aws:policy/AmazonSSMManagedInstanceCore',
    );
    expect(isSupersededPolicy('arn:aws-cn:iam::aws:policy/service-role/AmazonEC2RoleforSSM')).toBe(true);
    expect(isSupersededPolicy('arn:aws-cn:iam::aws:policy/AmazonSSMManagedInstanceCore')).toBe(false);
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
