import {
  CreateActivationCommand,
  DeleteActivationCommand,
  paginateDescribeActivations,
  type Activation,
} from '@aws-sdk/client-ssm';
import * as z from 'zod';
import type { LabClients } from '../shared/clients.js';
import { ensureDevNodeRole } from '../shared/dev-host-roles.js';
import { IamNotPropagatedYet, ignoreErrors, isErrorNamed } from '../shared/errors.js';
import { labConfigSchema, type LabConfig } from '../shared/lab-config.js';
import { ACTIVE_INSTANCE_STATES, findLabInstances } from '../shared/discovery.js';
import type { ActivationRef, LabNode } from '../shared/lab-state.js';
import { onlineHostNodes, type OnPremHost } from '../shared/managed-nodes.js';
import { logger } from '../shared/logger.js';
import { pollUntil } from '../shared/polling.js';
import { ENVIRONMENTS, LAB_HOSTS, labNames, type Environment, type HostSpec } from '../shared/names.js';
import { deleteParameter, parameterExists, putSecureParameter } from '../shared/secrets.js';
import { TAG_LAB_ID, labTags, toTagRecord } from '../shared/tags.js';

export const inputSchema = z
  .object({
    lab: labConfigSchema,
    serviceRoleName: z.string().regex(/^[\w+=,.@/-]{1,64}$/, 'must be an IAM role name'),
  })
  .strict();
export type CreateActivationsInput = { lab: LabConfig; serviceRoleName: string };

export interface CreateActivationsOutput {
  /** One per environment with a host to register; none for an environment registered already. */
  activations: ActivationRef[];
  /** The on-premises hosts that already have an Online node of the lab (their environment was skipped). */
  alreadyRegistered: LabNode[];
}

/**
 * An existing activation is only worth reusing if registration can still happen with it: at least
 * this long before it expires (registration runs minutes after this step, but a retried or slow
 * run should not race the expiry).
 */
export const MIN_REMAINING_MS = 30 * 60 * 1000;

/**
 * How long one invocation keeps re-sending a CreateActivation that SSM refuses because the service
 * role has not propagated yet (docs/aws-behaviours.md#iam-propagation: no published bound; the
 * benchmark models 10 s), before it is IamNotPropagatedYet for the workflow's Retry. Waiting here re-sends only CreateActivation: a
 * workflow retry repeats the whole task (DescribeActivations, the instance and node look-ups,
 * DeleteParameter) and is a billed state transition. A quarter of the 120 s Lambda timeout
 * (infra/functions.ts). One budget for both environments' activations.
 */
const ROLE_PROPAGATION_BUDGET_SECONDS = 30;
/** The waiter's back-off: 2 s, then up to 4 s, then 5 s apart (jittered). */
const ROLE_PROPAGATION_MIN_DELAY_SECONDS = 2;
const ROLE_PROPAGATION_MAX_DELAY_SECONDS = 5;

/** The lab's activations for one environment, found by their default instance name and tags. */
async function findActivations(
  clients: Pick<LabClients, 'ssm'>,
  labId: string,
  environment: Environment,
  defaultInstanceName: string,
): Promise<Activation[]> {
  const found: Activation[] = [];
  const pages = paginateDescribeActivations(
    { client: clients.ssm, pageSize: 50 },
    { Filters: [{ FilterKey: 'DefaultInstanceName', FilterValues: [defaultInstanceName] }] },
  );
  for await (const page of pages) {
    for (const activation of page.ActivationList ?? []) {
      const tags = toTagRecord(activation.Tags);
      if (tags[TAG_LAB_ID] === labId && tags.Environment === environment) found.push(activation);
    }
  }
  return found;
}

function reusable(activation: Activation, serviceRoleName: string, hosts: number, now: number): boolean {
  const left = (activation.RegistrationLimit ?? 0) - (activation.RegistrationsCount ?? 0);
  return (
    !activation.Expired &&
    (activation.ExpirationDate?.getTime() ?? 0) - now >= MIN_REMAINING_MS &&
    left >= hosts &&
    activation.IamRole === serviceRoleName
  );
}

/**
 * CreateActivation right after the service role was created fails with `ValidationException:
 * Not existing role: arn:aws:iam::...`. AWS documents only that generic
 * name, which SSM also uses for real input errors, so the message is matched here, narrowly: only
 * this one phrase becomes retryable. It also covers a role that does not trust ssm.amazonaws.com,
 * but create-service-role has just verified the trust, so within this workflow it is propagation;
 * the state machine's bounded retries end it if it never clears.
 */
function isRoleNotPropagated(err: unknown): boolean {
  return isErrorNamed(err, 'ValidationException') && /not existing role/i.test((err as Error).message);
}

async function ensureActivation(
  lab: LabConfig,
  serviceRoleName: string,
  environment: Environment,
  hosts: HostSpec[],
  clients: Pick<LabClients, 'ssm'>,
  roleWaitUntil: number,
): Promise<ActivationRef> {
  const names = labNames(lab.labId);
  const hostRole = hosts[0]!.role;
  const defaultInstanceName = names.host(hostRole);
  const codeParameter = names.activationCodeParameter(environment);
  const existing = await findActivations(clients, lab.labId, environment, defaultInstanceName);

  // The code cannot be read back from SSM, so an activation is reused only together with the
  // parameter holding its code. Exactly one candidate, so the parameter is unambiguously its code.
  const [only] = existing;
  if (
    existing.length === 1 &&
    reusable(only!, serviceRoleName, hosts.length, Date.now()) &&
    (await parameterExists(clients.ssm, codeParameter))
  ) {
    return { environment, hostRole, activationId: only!.ActivationId!, codeParameter };
  }

  // Replace. The parameter goes first: it then exists only after the newest activation's code was
  // written, so a crash anywhere below leaves either no parameter (the next run replaces again) or
  // the right one, never an old code beside a new activation.
  await deleteParameter(clients.ssm, codeParameter);
  for (const stale of existing) {
    logger.info('deleting an activation that cannot be reused', {
      activationId: stale.ActivationId,
      environment,
    });
    await ignoreErrors(
      () => clients.ssm.send(new DeleteActivationCommand({ ActivationId: stale.ActivationId! })),
      'InvalidActivation',
      'InvalidActivationId',
    );
  }

  const created = await pollUntil(
    async () => {
      try {
        return await clients.ssm.send(
          new CreateActivationCommand({
            Description: `session-lab ${lab.labId} ${environment} on-premises hosts`,
            DefaultInstanceName: defaultInstanceName,
            IamRole: serviceRoleName,
            RegistrationLimit: hosts.length,
            ExpirationDate: new Date(Date.now() + lab.activationExpiryHours * 3600 * 1000),
            // Copied onto every node registered with it: the Environment tag the Prod deny matches.
            Tags: labTags(lab.labId, { Environment: environment }),
          }),
        );
      } catch (err) {
        if (isRoleNotPropagated(err)) return undefined;
        throw err;
      }
    },
    {
      maxWaitSeconds: (roleWaitUntil - Date.now()) / 1000,
      minDelaySeconds: ROLE_PROPAGATION_MIN_DELAY_SECONDS,
      maxDelaySeconds: ROLE_PROPAGATION_MAX_DELAY_SECONDS,
    },
  );
  if (!created) throw new IamNotPropagatedYet(`SSM cannot see ${serviceRoleName} yet`);
  // Straight from the response into a SecureString; only the parameter's name leaves this task.
  await putSecureParameter(
    clients.ssm,
    codeParameter,
    created.ActivationCode!,
    labTags(lab.labId, { Environment: environment }),
  );
  return { environment, hostRole, activationId: created.ActivationId!, codeParameter };
}

/**
 * The lab's on-premises hosts that are up and already have an Online node of the lab (named after
 * the host, on its address): role -> node id. A role with no host up, or more than one (launch
 * instances will sort that out), counts as not registered.
 */
async function registeredHosts(
  clients: Pick<LabClients, 'ec2' | 'ssm'>,
  labId: string,
): Promise<Map<string, string>> {
  const names = labNames(labId);
  const up = await findLabInstances(clients.ec2, labId, ACTIVE_INSTANCE_STATES);
  const hosts: OnPremHost[] = [];
  for (const host of LAB_HOSTS.filter((h) => h.kind === 'onprem')) {
    const found = up.filter((i) => toTagRecord(i.Tags).Name === names.host(host.role));
    if (found.length === 1 && found[0]!.PrivateIpAddress) {
      hosts.push({ role: host.role, privateIpAddress: found[0]!.PrivateIpAddress });
    }
  }
  const online = await onlineHostNodes(clients.ssm, labId, hosts);
  return new Map([...online].map(([role, node]) => [role, node.InstanceId!]));
}

/**
 * Seed task 2: one hybrid activation per environment for the lab's mock on-premises hosts, its
 * code kept in a SecureString parameter. The Prod activation names the shared SSMServiceRole
 * (`serviceRoleName`), the Dev one the lab's own SessionLabDevNode-<labId>, created or converged
 * here first. Re-running reuses a still-usable activation whose code
 * is stored, and replaces any other. An environment whose hosts are all up and registered already
 * (the lab is provisioned again) gets no activation at all: register-agents leaves those hosts
 * out, so a fresh activation would only be created to be left unused; the spent one stays until
 * teardown.
 */
export async function createActivations(
  input: CreateActivationsInput,
  clients: Pick<LabClients, 'ec2' | 'ssm' | 'iam' | 'sts'>,
): Promise<CreateActivationsOutput> {
  const roleWaitUntil = Date.now() + ROLE_PROPAGATION_BUDGET_SECONDS * 1000;
  const registered = await registeredHosts(clients, input.lab.labId);
  const activations: ActivationRef[] = [];
  const alreadyRegistered: LabNode[] = [];
  for (const environment of ENVIRONMENTS) {
    const hosts = LAB_HOSTS.filter((host) => host.kind === 'onprem' && host.environment === environment);
    if (hosts.length === 0) continue;
    if (hosts.every((host) => registered.has(host.role))) {
      for (const host of hosts) {
        alreadyRegistered.push({
          role: host.role,
          environment,
          managedInstanceId: registered.get(host.role)!,
        });
      }
      continue;
    }
    // The Dev node registers with its lab's own role (shared/dev-host-roles.ts), converged here,
    // before its activation names it; the Prod node with the shared SSMServiceRole.
    const roleName =
      environment === 'Dev' ? await ensureDevNodeRole(clients, input.lab) : input.serviceRoleName;
    activations.push(await ensureActivation(input.lab, roleName, environment, hosts, clients, roleWaitUntil));
  }
  return { activations, alreadyRegistered };
}
