import * as z from 'zod';
import { ENVIRONMENTS, LAB_HOSTS, type Environment, type HostRole } from './names.js';

/**
 * The schemas of the state one task hands the next (functions/README.md): names, ids and ARNs,
 * never a secret. Every field is checked so a value that later lands in a command line (an IP,
 * an activation id, a parameter name) can only contain the characters its kind allows.
 */

const HOST_ROLES = LAB_HOSTS.map((host) => host.role) as [HostRole, ...HostRole[]];
export const hostRoleSchema = z.enum(HOST_ROLES);
export const environmentSchema = z.enum(ENVIRONMENTS as [Environment, ...Environment[]]);

const awsId = (prefix: string) =>
  z.string().regex(new RegExp(`^${prefix}-[0-9a-f]{8,17}$`), `must be a ${prefix}- id`);

export const instanceIdSchema = awsId('i');
export const managedInstanceIdSchema = z.string().regex(/^mi-[0-9a-f]{17}$/, 'must be an mi- id');

/** A Parameter Store name under session-lab's path. */
export const parameterNameSchema = z
  .string()
  .max(2048)
  .regex(/^\/session-lab\/[A-Za-z0-9_.\-/]+$/, 'must be a session-lab parameter name');

/** One hybrid activation of a lab (create-activations); the code itself stays in `codeParameter`. */
export const activationRefSchema = z
  .object({
    environment: environmentSchema,
    hostRole: hostRoleSchema,
    activationId: z
      .string()
      .regex(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/, 'must be a UUID'),
    codeParameter: parameterNameSchema,
  })
  .strict();
export type ActivationRef = z.output<typeof activationRefSchema>;

/** The lab's network (create-network). */
export const networkSchema = z
  .object({
    vpcId: awsId('vpc'),
    subnetId: awsId('subnet'),
    bootstrapSecurityGroupId: awsId('sg'),
    onPremSecurityGroupId: awsId('sg'),
  })
  .strict();
export type LabNetwork = z.output<typeof networkSchema>;

/** One launched host (launch-instances). */
export const labInstanceSchema = z
  .object({
    role: hostRoleSchema,
    kind: z.enum(['ec2', 'onprem', 'bootstrap']),
    environment: z.enum(['Dev', 'Prod', 'Bootstrap'] satisfies (Environment | 'Bootstrap')[]),
    instanceId: instanceIdSchema,
    privateIpAddress: z.ipv4(),
  })
  .strict();
export type LabInstance = z.output<typeof labInstanceSchema>;

/** One registered hybrid node (wait-for-registration). */
export const labNodeSchema = z
  .object({
    role: hostRoleSchema,
    environment: environmentSchema,
    managedInstanceId: managedInstanceIdSchema,
  })
  .strict();
export type LabNode = z.output<typeof labNodeSchema>;
