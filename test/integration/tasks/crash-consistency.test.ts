import { createPublicKey } from 'node:crypto';
import { CloudWatchLogsClient } from '@aws-sdk/client-cloudwatch-logs';
import { DescribeKeyPairsCommand, DescribeSecurityGroupsCommand, EC2Client } from '@aws-sdk/client-ec2';
import {
  GetLoginProfileCommand,
  GetPolicyCommand,
  IAMClient,
  ListAttachedUserPoliciesCommand,
  ListPolicyVersionsCommand,
} from '@aws-sdk/client-iam';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { GetParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { STSClient } from '@aws-sdk/client-sts';
import { createActivations } from '../../../functions/create-activations/task.js';
import { createKeyPair } from '../../../functions/create-key-pair/task.js';
import { createNetwork } from '../../../functions/create-network/task.js';
import { createServiceRole } from '../../../functions/create-service-role/task.js';
import { createWorkshopUser } from '../../../functions/create-workshop-user/task.js';
import { deleteActivations } from '../../../functions/delete-activations/task.js';
import { deleteNetwork } from '../../../functions/delete-network/task.js';
import { deleteWorkshopUser } from '../../../functions/delete-workshop-user/task.js';
import { clientConfig, labClients, type LabClients } from '../../../functions/shared/clients.js';
import { ignoreErrors } from '../../../functions/shared/errors.js';
import { labConfigSchema, type LabConfig } from '../../../functions/shared/lab-config.js';
import { labInventory } from '../../../functions/shared/lab-inventory.js';
import { labNames } from '../../../functions/shared/names.js';
import { useEmulator } from '../../helpers/emulator.js';
import { retrying } from '../../helpers/lab-builder.js';

/**
 * Crash consistency, task by task: a task killed right after its k-th AWS call (the call took
 * effect, the task never ran on), for every k, converges when it is run again to the same end
 * state as a run that never crashed. Against the emulator, each k in its own lab, concurrently.
 */

/** The process died: every later call of the crashed run fails without being sent. */
class Crash extends Error {
  override name = 'Crash';
}

type Clients = LabClients;

/**
 * The product's clients (adaptive retry, AWS_ENDPOINT_URL) with a counter of AWS calls (each send,
 * whatever its outcome, after the SDK's retries); with `crashAfter`, the run dies right after that
 * call answers.
 */
function countingClients(crashAfter?: number): { clients: Clients; calls: () => number } {
  let calls = 0;
  const count = {
    name: 'countCalls',
    step: 'initialize' as const,
  };
  const instrument = <T extends { middlewareStack: { add: (...args: never[]) => void } }>(client: T): T => {
    (client.middlewareStack.add as (mw: unknown, options: unknown) => void)(
      (next: (args: unknown) => Promise<unknown>) => async (args: unknown) => {
        if (crashAfter !== undefined && calls >= crashAfter) throw new Crash('the task is dead');
        try {
          return await next(args);
        } finally {
          calls += 1;
          // The answer (or error) arrived and the task died before it could use it.
          // eslint-disable-next-line no-unsafe-finally
          if (calls === crashAfter) throw new Crash(`killed after AWS call ${calls}`);
        }
      },
      count,
    );
    return client;
  };
  const config = clientConfig();
  const base = labClients();
  const clients = {
    ...base,
    ec2: instrument(new EC2Client(config)),
    iam: instrument(new IAMClient(config)),
    logs: instrument(new CloudWatchLogsClient(config)),
    secrets: instrument(new SecretsManagerClient(config)),
    ssm: instrument(new SSMClient(config)),
    sts: instrument(new STSClient(config)),
  } as Clients;
  return { clients, calls: () => calls };
}

const lab = (labId: string): LabConfig => labConfigSchema.parse({ labId, runId: `${labId}-run-1` });

/** An end state with the lab's id and the ids AWS made up written as placeholders. */
const normalized = (value: unknown, labId: string) =>
  JSON.parse(
    JSON.stringify(value)
      .replaceAll(labId, '<lab>')
      .replace(/\b(sg|vpc|subnet|key|i|mi)-[0-9a-f]{8,17}\b/g, '<$1-id>')
      .replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g, '<uuid>')
      .replace(/"v\d+"/g, '"v<n>"'),
  ) as unknown;

/** `ssh-rsa AAAA...` of a PEM private key, as EC2 shows a key pair's public key. */
function sshPublicKey(pem: string): string {
  const jwk = createPublicKey(pem).export({ format: 'jwk' }) as { n: string; e: string };
  const field = (bytes: Buffer) => {
    const length = Buffer.alloc(4);
    length.writeUInt32BE(bytes.length);
    return Buffer.concat([length, bytes]);
  };
  const mpint = (b64: string) => {
    const bytes = Buffer.from(b64, 'base64url');
    return field(bytes[0]! & 0x80 ? Buffer.concat([Buffer.from([0]), bytes]) : bytes);
  };
  return `ssh-rsa ${Buffer.concat([field(Buffer.from('ssh-rsa')), mpint(jwk.e), mpint(jwk.n)]).toString('base64')}`;
}

interface CrashCase {
  name: string;
  /** What must exist before the task runs (a prefix of the lab's own steps). */
  setup?: (labId: string) => Promise<void>;
  run: (labId: string, clients: Clients) => Promise<unknown>;
  /** The task's end state, read independently of its output. */
  state: (labId: string) => Promise<unknown>;
}

const c = () => labClients();

const CASES: CrashCase[] = [
  {
    name: 'create-key-pair',
    run: (labId, clients) => createKeyPair({ lab: lab(labId) }, clients),
    state: async (labId) => {
      const names = labNames(labId);
      const { KeyPairs = [] } = await c().ec2.send(
        new DescribeKeyPairsCommand({ KeyNames: [names.keyPair], IncludePublicKey: true }),
      );
      const { Parameter } = await c().ssm.send(
        new GetParameterCommand({ Name: names.privateKeyParameter, WithDecryption: true }),
      );
      return {
        keyPairs: KeyPairs.length,
        // The stored private key is the key pair's: the bootstrap host can use it.
        storedKeyOpensKeyPair:
          KeyPairs[0]?.PublicKey?.split(' ').slice(0, 2).join(' ') === sshPublicKey(Parameter!.Value!),
      };
    },
  },
  {
    name: 'create-network',
    run: (labId, clients) => createNetwork({ lab: lab(labId) }, clients),
    state: async (labId) => {
      const inventory = await labInventory(c(), labId);
      const { SecurityGroups = [] } = await c().ec2.send(
        new DescribeSecurityGroupsCommand({ GroupIds: inventory.securityGroups }),
      );
      return SecurityGroups.map((g) => ({
        name: g.GroupName,
        ingress: (g.IpPermissions ?? []).map((p) => ({
          from: p.FromPort,
          to: p.ToPort,
          groups: (p.UserIdGroupPairs ?? []).length,
          cidrs: (p.IpRanges ?? []).map((r) => r.CidrIp),
        })),
      })).sort((a, b) => String(a.name).localeCompare(String(b.name)));
    },
  },
  {
    name: 'create-activations',
    run: (labId, clients) =>
      createActivations({ lab: lab(labId), serviceRoleName: 'SSMServiceRole' }, clients),
    state: async (labId) => {
      const { activations, parameters } = await labInventory(c(), labId);
      return { activations: activations.length, parameters: parameters.sort() };
    },
  },
  {
    name: 'create-workshop-user',
    run: (labId, clients) => createWorkshopUser({ lab: lab(labId) }, clients),
    state: async (labId) => {
      const names = labNames(labId);
      const inventory = await labInventory(c(), labId);
      const login = await ignoreErrors(
        () => c().iam.send(new GetLoginProfileCommand({ UserName: names.user })),
        'NoSuchEntityException',
      );
      const { AttachedPolicies = [] } = await c().iam.send(
        new ListAttachedUserPoliciesCommand({ UserName: names.user }),
      );
      const policyArn = inventory.policies[0]!;
      const { Versions = [] } = await c().iam.send(new ListPolicyVersionsCommand({ PolicyArn: policyArn }));
      const { Policy } = await c().iam.send(new GetPolicyCommand({ PolicyArn: policyArn }));
      return {
        users: inventory.users,
        secrets: inventory.secrets.length,
        // (moto ignores PasswordResetRequired at CreateLoginProfile, so only its existence is compared.)
        loginProfile: login?.LoginProfile !== undefined,
        attached: AttachedPolicies.map((p) => p.PolicyName).sort(),
        defaultVersionIsOnlyOne: Versions.filter((v) => v.IsDefaultVersion).length === 1,
        policyTagged: (Policy?.Tags ?? []).some((t) => t.Value === labId),
      };
    },
  },
  {
    name: 'delete-workshop-user',
    setup: async (labId) => void (await retrying(() => createWorkshopUser({ lab: lab(labId) }, c()))),
    run: (labId, clients) => deleteWorkshopUser({ labId }, clients),
    state: async (labId) => {
      const { users, policies, secrets } = await labInventory(c(), labId);
      return { users, policies, secrets };
    },
  },
  {
    name: 'delete-network',
    setup: async (labId) => {
      await retrying(() => createNetwork({ lab: lab(labId) }, c()));
      await retrying(() => createKeyPair({ lab: lab(labId) }, c()));
    },
    run: (labId, clients) => deleteNetwork({ labId }, clients),
    state: async (labId) => {
      const { securityGroups, keyPairs, parameters } = await labInventory(c(), labId);
      return { securityGroups, keyPairs, parameters };
    },
  },
  {
    name: 'delete-activations',
    setup: async (labId) =>
      void (await retrying(() =>
        createActivations({ lab: lab(labId), serviceRoleName: 'SSMServiceRole' }, c()),
      )),
    run: (labId, clients) => deleteActivations({ labId }, clients),
    state: async (labId) => {
      const { activations, parameters } = await labInventory(c(), labId);
      return { activations, parameters };
    },
  },
];

describe('each task, killed after each of its AWS calls, converges when run again', () => {
  useEmulator({ time: { scale: 0.01 } });

  beforeAll(async () => {
    // The shared service role create-activations needs (another step's, not under test here).
    await retrying(() => createServiceRole({}, c()));
  });

  it.each(CASES.map((crashCase) => [crashCase.name, crashCase] as const))(
    '%s',
    async (name, { setup, run, state }) => {
      const short = name
        .replace(/^(create|delete)-/, '$1')
        .replace(/-/g, '')
        .slice(0, 14);
      // The reference: a run that never crashes, and how many AWS calls it makes.
      const reference = `cc-${short}-ref`;
      await setup?.(reference);
      const counted = countingClients();
      await retrying(() => run(reference, counted.clients));
      const calls = counted.calls();
      expect(calls).toBeGreaterThan(0);
      const expected = normalized(await state(reference), reference);

      const outcomes = await Promise.all(
        Array.from({ length: calls }, async (_, i) => {
          const k = i + 1;
          const labId = `cc-${short}-${k}`;
          await setup?.(labId);
          const crashed = await run(labId, countingClients(k).clients).then(
            () => 'completed',
            (err: Error) => err.name,
          );
          // Run again, as the state machine's retry or the next execution does.
          await retrying(() => run(labId, labClients()));
          return { k, crashed, state: normalized(await state(labId), labId) };
        }),
      );
      expect(outcomes).toEqual(
        Array.from({ length: calls }, (_, i) => ({ k: i + 1, crashed: 'Crash', state: expected })),
      );
    },
    120_000,
  );
});
