import * as z from 'zod';

/**
 * Every name session-lab gives a resource comes from here, so teardown, verify and the tests
 * agree on what a lab owns. Per-lab names keep the seed's names with the lab id added.
 */

/** Lowercase letters, digits and hyphens, 3..32, starting and ending with a letter or digit. */
export const labIdSchema = z
  .string()
  .min(3)
  .max(32)
  .regex(
    /^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$/,
    'must be lowercase letters, digits and hyphens, starting and ending with a letter or digit',
  );

export type Environment = 'Dev' | 'Prod';
export const ENVIRONMENTS: readonly Environment[] = ['Dev', 'Prod'];

/** The seed's four lab hosts plus the bootstrap host that registers the on-prem ones. */
export type HostRole = 'ProdEC2Instance' | 'DevEC2Instance' | 'ProdOnPrem' | 'DevOnPrem' | 'Bootstrap';

export interface HostSpec {
  role: HostRole;
  /** `ec2`: managed through the instance profile; `onprem`: no profile, registered with an activation. */
  kind: 'ec2' | 'onprem' | 'bootstrap';
  environment: Environment | 'Bootstrap';
}

export const LAB_HOSTS: readonly HostSpec[] = [
  { role: 'ProdEC2Instance', kind: 'ec2', environment: 'Prod' },
  { role: 'DevEC2Instance', kind: 'ec2', environment: 'Dev' },
  { role: 'ProdOnPrem', kind: 'onprem', environment: 'Prod' },
  { role: 'DevOnPrem', kind: 'onprem', environment: 'Dev' },
  { role: 'Bootstrap', kind: 'bootstrap', environment: 'Bootstrap' },
];

/** Account- and Region-wide resources shared by every lab. */
export const SHARED_NAMES = {
  instanceRole: 'SSMLabRole',
  instanceProfile: 'SSMLabProfile',
  serviceRole: 'SSMServiceRole',
  preferencesDocument: 'SSM-SessionManagerRunShell',
  defaultLogGroup: 'SSM-Logs',
  activationTierSetting: '/ssm/managed-instance/activation-tier',
  amiParameter: '/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64',
  /**
   * The customer managed policy the stack deploys as the permissions boundary of every lab's
   * bootstrap role (shared/bootstrap-boundary.ts); launch-instances may create and change those
   * roles only with it as their boundary.
   */
  bootstrapBoundaryPolicy: 'SessionLabBootstrapBoundary',
  /**
   * The customer managed policy the stack deploys as the permissions boundary of every lab's Dev
   * host roles (shared/dev-host-boundary.ts); launch-instances and create-activations may create
   * and change those roles only with it as their boundary.
   */
  devHostBoundaryPolicy: 'SessionLabDevHostBoundary',
} as const;

/** The ARN of the bootstrap roles' permissions boundary policy in an account. */
export const bootstrapBoundaryArn = (partition: string, accountId: string) =>
  `arn:${partition}:iam::${accountId}:policy/${SHARED_NAMES.bootstrapBoundaryPolicy}`;

/** The ARN of the Dev host roles' permissions boundary policy in an account. */
export const devHostBoundaryArn = (partition: string, accountId: string) =>
  `arn:${partition}:iam::${accountId}:policy/${SHARED_NAMES.devHostBoundaryPolicy}`;

/**
 * The partition of a Region, the second field of every ARN in it: `aws-cn` in China, `aws-us-gov`
 * in GovCloud, the isolated partitions by their Region prefixes, `aws-eusc` in the European
 * Sovereign Cloud, `aws` everywhere else (the SDK's partition table, by Region name). ARNs the
 * tasks compose (managed policies, the activation tier, the lab policies) take it from here, so a
 * lab in cn-north-1 names `arn:aws-cn:...` resources.
 */
export function partitionOf(region: string): string {
  const prefixes: [string, string][] = [
    ['cn-', 'aws-cn'],
    ['us-gov-', 'aws-us-gov'],
    ['us-isob-', 'aws-iso-b'],
    ['us-isof-', 'aws-iso-f'],
    ['us-iso-', 'aws-iso'],
    ['eu-isoe-', 'aws-iso-e'],
    ['eusc-', 'aws-eusc'],
  ];
  return prefixes.find(([prefix]) => region.startsWith(prefix))?.[1] ?? 'aws';
}

/** An AWS managed policy's ARN in `partition` (`arn:aws-cn:iam::aws:policy/...` in China). */
const awsManagedPolicy = (partition: string, name: string) => `arn:${partition}:iam::aws:policy/${name}`;

/**
 * Managed policies the seed used that session-lab replaces; converging a shared role detaches them
 * (AmazonEC2RoleforSSM is deprecated and broader than AmazonSSMManagedInstanceCore;
 * CloudWatchAgentServerPolicy, which the seed gave SSMServiceRole, allows logs:PutRetentionPolicy,
 * CreateLogGroup and PutLogEvents on every group to anyone with root on a hybrid node, and the
 * session logging the nodes do is granted by shared/session-logging.ts instead).
 * By name, so they are recognised in any partition.
 */
export const SUPERSEDED_POLICY_NAMES: readonly string[] = [
  'service-role/AmazonEC2RoleforSSM',
  'CloudWatchAgentServerPolicy',
];

/** True for the ARN of a superseded managed policy (`SUPERSEDED_POLICY_NAMES`), whatever its partition. */
export function isSupersededPolicy(policyArn: string): boolean {
  const match = /^arn:[a-z-]+:iam::aws:policy\/(.+)$/.exec(policyArn);
  return match !== null && SUPERSEDED_POLICY_NAMES.includes(match[1]!);
}

/** The AWS managed policies the lab attaches, in the partition of the lab's Region. */
export function managedPolicies(partition: string) {
  return {
    ssmCore: awsManagedPolicy(partition, 'AmazonSSMManagedInstanceCore'),
    userChangePassword: awsManagedPolicy(partition, 'IAMUserChangePassword'),
  } as const;
}

/**
 * The seed's read-only managed policies for the workshop user, which session-lab no longer
 * attaches: CloudWatchLogsReadOnlyAccess reads every student's transcripts in the shared log group,
 * AWSCloudTrail_ReadOnlyAccess (the seed's AWSCloudTrailReadOnlyAccess, renamed) all the account's
 * activity. The user's own policy grants its own transcripts instead (create-workshop-user/policy.ts);
 * a user of an earlier release that holds them has them detached. By name, in any partition.
 */
const SUPERSEDED_USER_POLICY_NAMES: readonly string[] = [
  'CloudWatchLogsReadOnlyAccess',
  'AWSCloudTrail_ReadOnlyAccess',
];

/** True for the ARN of a managed policy a workshop user must no longer hold (`SUPERSEDED_USER_POLICY_NAMES`). */
export function isSupersededUserPolicy(policyArn: string): boolean {
  const match = /^arn:[a-z-]+:iam::aws:policy\/(.+)$/.exec(policyArn);
  return match !== null && SUPERSEDED_USER_POLICY_NAMES.includes(match[1]!);
}

/** The root of everything a lab keeps in Parameter Store and Secrets Manager. */
export const labPath = (labId: string) => `/session-lab/${labId}`;

/** The names of one lab's resources. */
export function labNames(labId: string) {
  const path = labPath(labId);
  const user = `MyWorkshopUser-${labId}`;
  return {
    labId,
    user,
    userPolicy: `SSMDevAccess-${labId}`,
    keyPair: `MyKeyPair-${labId}`,
    bootstrapSecurityGroup: `session-lab-${labId}-bootstrap`,
    onPremSecurityGroup: `session-lab-${labId}-onprem`,
    /** The `Name` tag of a host (and the default instance name of an activation). */
    host: (role: HostRole) => `${role}-${labId}`,
    privateKeyParameter: `${path}/key-pair/private-key`,
    activationCodeParameter: (environment: Environment) => `${path}/activation/${environment}/code`,
    passwordSecret: `session-lab/${labId}/MyWorkshopUser-password`,
    parameterPath: path,
    /** The bootstrap host's own role and instance profile (launch-instances; delete-network). */
    bootstrapRole: `SessionLabBootstrap-${labId}`,
    /**
     * The Dev hosts' own roles (shared/dev-host-roles.ts), so root on a Dev host holds its own
     * lab's credentials, not the account-wide SSMLabRole / SSMServiceRole the Prod hosts keep:
     * DevEC2Instance's role and instance profile (launch-instances), and the role DevOnPrem's
     * activation names (create-activations). Both deleted by delete-network. With the longest lab
     * id (32) they are 50 characters, within IAM's 64 for a role name.
     */
    devHostRole: `SessionLabDevHost-${labId}`,
    devNodeRole: `SessionLabDevNode-${labId}`,
    /**
     * The log streams (and S3 objects) of the lab's sessions: Session Manager names a stream after
     * the session, `<user name>-<suffix>`, the suffix without a hyphen. `sessionLogStreams` is the
     * lab's; `longerLabSessionLogStreams` (one more hyphen) the streams of a lab whose id extends
     * this one's (`sec` -> `sec-01`), which the lab's grants must not reach.
     */
    sessionLogStreams: `${user}-*`,
    longerLabSessionLogStreams: `${user}-*-*`,
  };
}

export type LabNames = ReturnType<typeof labNames>;

/** The ARN of the account-wide service setting, the form UpdateServiceSetting requires. */
export const activationTierArn = (region: string, accountId: string) =>
  `arn:${partitionOf(region)}:ssm:${region}:${accountId}:servicesetting${SHARED_NAMES.activationTierSetting}`;
