/**
 * ARNs as AWS builds them for authorization, from the names and ids a request carries
 * (Service Authorization Reference resource types).
 */

export const arn = (service: string, region: string, account: string, resource: string) =>
  `arn:aws:${service}:${region}:${account}:${resource}`;

/** `/a/b` and `a` are both parameters; public AWS parameters (`/aws/...`) belong to no account. */
export function parameterArn(region: string, account: string, name: string): string {
  if (name.startsWith('arn:')) return name;
  const path = name.replace(/^\//, '');
  return arn('ssm', region, path.startsWith('aws/') ? '' : account, `parameter/${path}`);
}

/** AWS-owned documents (AWS-RunShellScript, AmazonCloudWatch-…) have no account in their ARN. */
export function documentArn(region: string, account: string, name: string): string {
  if (name.startsWith('arn:')) return name;
  return arn('ssm', region, /^(AWS|Amazon)/.test(name) ? '' : account, `document/${name}`);
}

/** An EC2 instance (i-) or a hybrid managed node (mi-), as Systems Manager authorizes them. */
export function nodeArn(region: string, account: string, id: string): string {
  return id.startsWith('mi-')
    ? arn('ssm', region, account, `managed-instance/${id}`)
    : arn('ec2', region, account, `instance/${id}`);
}

/** EC2 resource ids by prefix; AMIs belong to no account in the ARN IAM sees. */
const EC2_TYPES: [RegExp, string][] = [
  [/^i-/, 'instance'],
  [/^sg-/, 'security-group'],
  [/^vol-/, 'volume'],
  [/^eni-/, 'network-interface'],
  [/^subnet-/, 'subnet'],
  [/^vpc-/, 'vpc'],
  [/^ami-/, 'image'],
  [/^snap-/, 'snapshot'],
  [/^key-/, 'key-pair'],
  [/^igw-/, 'internet-gateway'],
  [/^rtb-/, 'route-table'],
  [/^lt-/, 'launch-template'],
];

export function ec2Arn(region: string, account: string, id: string): string {
  const type = EC2_TYPES.find(([pattern]) => pattern.test(id))?.[1] ?? 'resource';
  return arn('ec2', region, type === 'image' ? '' : account, `${type}/${id}`);
}

export const iamArn = (account: string, resource: string) => `arn:aws:iam::${account}:${resource}`;

/** An IAM path (`/`, `/service-role/`) and name as the resource part after the type. */
export const withPath = (path: unknown, name: string) => {
  const p = typeof path === 'string' && path ? path : '/';
  return `${p.replace(/^\//, '')}${name}`;
};
