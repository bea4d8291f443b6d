import { isDeepStrictEqual } from 'node:util';
import { paginateDescribeLogGroups } from '@aws-sdk/client-cloudwatch-logs';
import { DescribeInstancesCommand, type Instance } from '@aws-sdk/client-ec2';
import {
  GetLoginProfileCommand,
  GetPolicyCommand,
  GetUserCommand,
  SimulatePrincipalPolicyCommand,
} from '@aws-sdk/client-iam';
import {
  DescribeInstanceInformationCommand,
  DescribeSessionsCommand,
  GetDocumentCommand,
  ListTagsForResourceCommand,
  type InstanceInformation,
} from '@aws-sdk/client-ssm';
import * as z from 'zod';
import { clientRegion } from '../shared/account.js';
import type { LabClients } from '../shared/clients.js';
import { LabStateMismatch, NotReadyYet, ignoreErrors, isErrorNamed } from '../shared/errors.js';
import { labConfigSchema } from '../shared/lab-config.js';
import { labInstanceSchema, labNodeSchema } from '../shared/lab-state.js';
import { describeNodes } from '../shared/managed-nodes.js';
import { SHARED_NAMES } from '../shared/names.js';
import { MANAGED_BY, TAG_LAB_ID, TAG_MANAGED_BY, toTagRecord } from '../shared/tags.js';
import {
  expectedAccess,
  seedGap,
  tagContextEntries,
  targetArn,
  toAccess,
  type Access,
  type Target,
} from './access-matrix.js';

const nodeIdSchema = z.string().regex(/^(i-[0-9a-f]{8,17}|mi-[0-9a-f]{17})$/, 'must be an i- or mi- id');

export const inputSchema = z.object({
  lab: labConfigSchema,
  instances: z.array(labInstanceSchema),
  nodes: z.array(labNodeSchema),
  /** create-workshop-user's output. */
  user: z.object({
    userName: z.string().min(1),
    userArn: z.string().startsWith('arn:'),
    policyArn: z.string().startsWith('arn:'),
    passwordSecretArn: z.string().startsWith('arn:'),
  }),
  /** configure-session-logging's output. */
  logging: z.object({
    logGroupName: z.string().min(1),
    documentName: z.string().min(1).default(SHARED_NAMES.preferencesDocument),
    preferences: z.record(z.string(), z.unknown()),
  }),
  /**
   * Nodes of other labs: the strict policy must deny them. When absent, the task samples up to
   * OTHER_LAB_SAMPLE Online nodes of other session-lab labs itself (by their tags), so every
   * verification checks the isolation between labs that share the account.
   */
  otherLabNodes: z.array(z.object({ nodeId: nodeIdSchema })).optional(),
  /**
   * How long after the user or its policy last changed a wrong matrix is put down to IAM
   * propagation (NotReadyYet, retried) rather than reported as a failure (LabStateMismatch).
   * Shorter than the state machine's NotReadyYet retry budget (about 220 s with full jitter), so a
   * matrix that stays wrong ends as LabStateMismatch naming the cells.
   */
  propagationWindowSeconds: z.number().int().min(0).max(3600).default(180),
});
export type Input = z.output<typeof inputSchema>;

export interface AccessCell {
  user: string;
  role: string;
  environment: string;
  nodeId: string;
  expected: Access;
  actual: Access | 'unknown';
  /** SimulatePrincipalPolicy's EvalDecision: allowed, explicitDeny or implicitDeny. */
  decision?: string;
  note?: string;
}

export interface LabReport {
  labId: string;
  policyMode: 'strict' | 'seed';
  signInUrl: string;
  user: { userName: string; passwordSecretArn: string; loginProfile: boolean };
  nodes: { role: string; environment: string; nodeId: string; pingStatus: string }[];
  accessMatrix: AccessCell[];
  preferences: {
    documentName: string;
    documentVersion?: string;
    matches: boolean;
    logGroupName: string;
    logGroupExists: boolean;
  };
  /** Informational: the user's terminated sessions of the last 30 days. */
  sessionHistory: {
    sessionId: string;
    target: string;
    status: string;
    startDate?: string;
    endDate?: string;
  }[];
  /** What the seed's policy lets through that the strict one denies (seed mode only). */
  gaps: string[];
  /** Why `ok` is false. */
  problems: string[];
  ok: boolean;
}

type Clients = Pick<LabClients, 'ec2' | 'iam' | 'logs' | 'ssm'>;

/**
 * Seed task 6 without a person: the access matrix (the lab user against every session target,
 * from IAM's policy simulator with each node's real tags), the nodes Online, the preferences read
 * back, the session history and the sign-in URL. A wrong matrix shortly after the user or policy
 * changed is IAM propagation: NotReadyYet, which the state machine retries;
 * after `propagationWindowSeconds` it is LabStateMismatch naming the cells. Anything else wrong
 * is reported (`ok: false`, `problems`). The report names the password's secret, never its value.
 */
export async function verifyLab(
  input: Input,
  clients: Clients,
  now: () => Date = () => new Date(),
): Promise<LabReport> {
  const { lab, user } = input;
  const [, partition, , , account] = user.userArn.split(':') as [string, string, string, string, string];
  const region = await clientRegion(clients.ssm);
  const discovered = input.otherLabNodes
    ? new Map<string, Record<string, string>>()
    : await otherLabNodes(input, clients);
  const targets = await sessionTargets(input, [...discovered.keys()], clients.ec2);

  const [readBack, pings, loginProfile, preferences, sessionHistory] = await Promise.all([
    readTags(targets, clients),
    pingStatuses(
      targets.filter((t) => t.ownLab),
      clients,
    ),
    ignoreErrors(
      () => clients.iam.send(new GetLoginProfileCommand({ UserName: user.userName })),
      'NoSuchEntityException',
    ),
    checkPreferences(input, clients),
    sessionHistoryOf(user.userArn, clients),
  ]);

  // A sampled node of another lab that went away since it was found keeps the tags it had then:
  // it is still a node the policy must deny, not a problem of this lab.
  const tags = new Map([...discovered, ...readBack]);
  const accessMatrix: AccessCell[] = [];
  for (const target of targets) {
    const nodeTags = tags.get(target.nodeId);
    // Other labs' nodes are only known by id: their environment comes from their tags.
    const environment = target.ownLab ? target.environment : (nodeTags?.Environment ?? '');
    const resolved = { ...target, environment };
    const cell: AccessCell = {
      user: user.userName,
      role: target.role,
      environment,
      nodeId: target.nodeId,
      expected: expectedAccess(lab.policyMode, resolved),
      actual: 'unknown',
    };
    if (!nodeTags) {
      cell.note = 'node not found: its tags cannot be read';
    } else {
      const { EvaluationResults } = await clients.iam.send(
        new SimulatePrincipalPolicyCommand({
          PolicySourceArn: user.userArn,
          ActionNames: ['ssm:StartSession'],
          ResourceArns: [targetArn(target, partition, region, account)],
          ContextEntries: tagContextEntries(nodeTags),
        }),
      );
      const result = EvaluationResults?.[0];
      cell.decision = result?.ResourceSpecificResults?.[0]?.EvalResourceDecision ?? result?.EvalDecision;
      cell.actual = toAccess(cell.decision);
      const gap = seedGap(lab.policyMode, resolved, cell.actual);
      if (gap) cell.note = gap;
    }
    accessMatrix.push(cell);
  }

  const wrong = accessMatrix.filter((cell) => cell.actual !== 'unknown' && cell.actual !== cell.expected);
  if (wrong.length > 0) await failOnWrongMatrix(wrong, input, clients, now());

  const nodes = targets
    .filter((t) => t.ownLab && t.role !== 'Bootstrap')
    .map((t) => ({
      role: t.role,
      environment: t.environment,
      nodeId: t.nodeId,
      pingStatus: pings.get(t.nodeId) ?? 'NotRegistered',
    }));
  const problems = [
    ...nodes
      .filter((n) => n.pingStatus !== 'Online')
      .map((n) => `${n.role} (${n.nodeId}) is ${n.pingStatus}, not Online`),
    ...accessMatrix.filter((c) => c.actual === 'unknown').map((c) => `${c.role} (${c.nodeId}): ${c.note}`),
    ...(loginProfile ? [] : [`${user.userName} has no console password (login profile)`]),
    ...(preferences.matches ? [] : [`${preferences.documentName} does not hold the lab's preferences`]),
    ...(preferences.logGroupExists ? [] : [`log group ${preferences.logGroupName} does not exist`]),
  ];
  return {
    labId: lab.labId,
    policyMode: lab.policyMode,
    signInUrl: `https://${account}.signin.aws.amazon.com/console`,
    user: {
      userName: user.userName,
      passwordSecretArn: user.passwordSecretArn,
      loginProfile: Boolean(loginProfile),
    },
    nodes,
    accessMatrix,
    preferences,
    sessionHistory,
    gaps: accessMatrix.flatMap((c) => (c.note?.startsWith('seed gap') ? [c.note] : [])),
    problems,
    ok: problems.length === 0,
  };
}

/**
 * The session targets: the lab's EC2 nodes and its bootstrap host (while it runs) by instance id,
 * its hybrid nodes by `mi-` id, and any other lab's nodes given. The "on-prem" hosts' own `i-` ids
 * are not targets: they have no instance profile and are reached as `mi-` nodes.
 */
async function sessionTargets(input: Input, discovered: string[], ec2: Clients['ec2']): Promise<Target[]> {
  const bootstrap = input.instances.filter((i) => i.kind === 'bootstrap');
  const running = bootstrap.length
    ? await liveInstanceIds(
        ec2,
        bootstrap.map((i) => i.instanceId),
      )
    : new Set();
  return [
    ...input.instances
      .filter((i) => i.kind === 'ec2' || (i.kind === 'bootstrap' && running.has(i.instanceId)))
      .map((i) => ({
        role: i.role,
        kind: 'ec2' as const,
        environment: i.environment,
        nodeId: i.instanceId,
        ownLab: true,
      })),
    ...input.nodes.map((n) => ({
      role: n.role,
      kind: 'hybrid' as const,
      environment: n.environment,
      nodeId: n.managedInstanceId,
      ownLab: true,
    })),
    ...[...(input.otherLabNodes ?? []).map(({ nodeId }) => nodeId), ...discovered].map((nodeId) => ({
      role: 'other-lab',
      kind: nodeId.startsWith('mi-') ? ('hybrid' as const) : ('ec2' as const),
      environment: '',
      nodeId,
      ownLab: false,
    })),
  ];
}

/** How many nodes of other labs a verification samples when none are given. */
export const OTHER_LAB_SAMPLE = 4;
/** How many candidates' tags are read at most to find that sample. */
const OTHER_LAB_CANDIDATES = 12;

/**
 * A sample of other session-lab labs' nodes, with their tags: Online managed nodes carrying a lab
 * tag (`session-lab:managed-by`, a `session-lab:lab-id` other than this lab's), Dev nodes first
 * (the strict policy's allow is for Dev, so another lab's Dev node is the one isolation is about),
 * one lab after another so the sample spans labs. Bounded: a few list pages, at most
 * OTHER_LAB_CANDIDATES tag reads, OTHER_LAB_SAMPLE nodes.
 */
export async function otherLabNodes(
  input: Pick<Input, 'lab' | 'instances' | 'nodes'>,
  clients: Pick<Clients, 'ec2' | 'ssm'>,
): Promise<Map<string, Record<string, string>>> {
  const own = new Set([
    ...input.instances.map((i) => i.instanceId),
    ...input.nodes.map((n) => n.managedInstanceId),
  ]);
  const candidates: string[] = [];
  let NextToken: string | undefined;
  for (let page = 0; page < 4 && candidates.length < OTHER_LAB_CANDIDATES; page++) {
    // A tag filter cannot be combined with any other filter.
    const out = await clients.ssm.send(
      new DescribeInstanceInformationCommand({
        Filters: [{ Key: 'tag-key', Values: [TAG_LAB_ID] }],
        MaxResults: 50,
        NextToken,
      }),
    );
    for (const node of out.InstanceInformationList ?? []) {
      const id = node.InstanceId ?? '';
      if (node.PingStatus === 'Online' && nodeIdSchema.safeParse(id).success && !own.has(id))
        candidates.push(id);
    }
    NextToken = out.NextToken;
    if (!NextToken) break;
  }
  const sample = candidates.sort().slice(0, OTHER_LAB_CANDIDATES);
  const tags = await readTags(
    sample.map((nodeId) => ({
      role: 'other-lab',
      kind: nodeId.startsWith('mi-') ? ('hybrid' as const) : ('ec2' as const),
      environment: '',
      nodeId,
      ownLab: false,
    })),
    clients,
  );
  const others = [...tags].filter(
    ([, t]) =>
      t[TAG_MANAGED_BY] === MANAGED_BY && t[TAG_LAB_ID] !== undefined && t[TAG_LAB_ID] !== input.lab.labId,
  );
  // Dev nodes first, then the others; within each, one lab after another, so a small sample
  // spans as many labs as it can.
  const picked = new Map<string, Record<string, string>>();
  for (const dev of [true, false]) {
    const byLab = new Map<string, [string, Record<string, string>][]>();
    for (const entry of others.filter(([, t]) => (t.Environment === 'Dev') === dev)) {
      const lab = entry[1][TAG_LAB_ID]!;
      byLab.set(lab, [...(byLab.get(lab) ?? []), entry]);
    }
    for (let round = 0; picked.size < OTHER_LAB_SAMPLE; round++) {
      const next = [...byLab.values()].flatMap((entries) => entries.slice(round, round + 1));
      if (next.length === 0) break;
      for (const [id, t] of next) if (picked.size < OTHER_LAB_SAMPLE) picked.set(id, t);
    }
  }
  return picked;
}

async function describeInstances(ec2: Clients['ec2'], ids: string[]): Promise<Instance[]> {
  if (ids.length === 0) return [];
  // A filter rather than InstanceIds: one unknown id would fail the whole call.
  const out = await ec2.send(
    new DescribeInstancesCommand({ Filters: [{ Name: 'instance-id', Values: ids }] }),
  );
  return (out.Reservations ?? []).flatMap((r) => r.Instances ?? []);
}

async function liveInstanceIds(ec2: Clients['ec2'], ids: string[]): Promise<Set<string>> {
  const instances = await describeInstances(ec2, ids);
  const gone = new Set(['shutting-down', 'terminated']);
  return new Set(instances.filter((i) => !gone.has(i.State?.Name ?? '')).map((i) => i.InstanceId!));
}

/** The real tags of each target: EC2 tags for `i-`, SSM tags for `mi-`. */
async function readTags(
  targets: Target[],
  { ec2, ssm }: Pick<Clients, 'ec2' | 'ssm'>,
): Promise<Map<string, Record<string, string>>> {
  const tags = new Map<string, Record<string, string>>();
  const instances = await describeInstances(
    ec2,
    targets.filter((t) => t.kind === 'ec2').map((t) => t.nodeId),
  );
  for (const instance of instances) tags.set(instance.InstanceId!, toTagRecord(instance.Tags));
  for (const target of targets.filter((t) => t.kind === 'hybrid')) {
    const found = await ignoreErrors(
      () =>
        ssm.send(
          new ListTagsForResourceCommand({ ResourceType: 'ManagedInstance', ResourceId: target.nodeId }),
        ),
      'InvalidResourceId',
    );
    if (found) tags.set(target.nodeId, toTagRecord(found.TagList));
  }
  return tags;
}

/**
 * PingStatus by node id; nodes SSM does not know are absent. One id SSM does not know (a node
 * deregistered, an instance terminated) fails the whole InstanceIds lookup with InvalidInstanceId,
 * so the ids are then looked up one at a time (`describeNodes` answers an unknown one with none).
 */
async function pingStatuses(targets: Target[], { ssm }: Clients): Promise<Map<string, string>> {
  const statuses = new Map<string, string>();
  const ids = targets.map((t) => t.nodeId);
  for (let i = 0; i < ids.length; i += 50) {
    const chunk = ids.slice(i, i + 50);
    let nodes: InstanceInformation[];
    try {
      const out = await ssm.send(
        new DescribeInstanceInformationCommand({
          Filters: [{ Key: 'InstanceIds', Values: chunk }],
          MaxResults: 50,
        }),
      );
      nodes = out.InstanceInformationList ?? [];
    } catch (err) {
      if (!isErrorNamed(err, 'InvalidInstanceId')) throw err;
      nodes = [];
      for (const id of chunk) nodes.push(...(await describeNodes(ssm, { Key: 'InstanceIds', Values: [id] })));
    }
    for (const node of nodes) statuses.set(node.InstanceId!, node.PingStatus ?? '');
  }
  return statuses;
}

/** The preferences document's default version against what configure-session-logging wrote. */
async function checkPreferences(
  { logging }: Input,
  { ssm, logs }: Clients,
): Promise<LabReport['preferences']> {
  const doc = await ignoreErrors(
    () => ssm.send(new GetDocumentCommand({ Name: logging.documentName })),
    'InvalidDocument',
  );
  let inputs: unknown;
  try {
    inputs = (JSON.parse(doc?.Content ?? '') as { inputs?: unknown }).inputs;
  } catch {
    inputs = undefined;
  }
  let logGroupExists = false;
  for await (const page of paginateDescribeLogGroups(
    { client: logs },
    { logGroupNamePrefix: logging.logGroupName },
  )) {
    if (page.logGroups?.some((g) => g.logGroupName === logging.logGroupName)) {
      logGroupExists = true;
      break;
    }
  }
  return {
    documentName: logging.documentName,
    documentVersion: doc?.DocumentVersion,
    matches: doc?.DocumentType === 'Session' && isDeepStrictEqual(inputs, logging.preferences),
    logGroupName: logging.logGroupName,
    logGroupExists,
  };
}

async function sessionHistoryOf(userArn: string, { ssm }: Clients): Promise<LabReport['sessionHistory']> {
  const out = await ssm.send(
    new DescribeSessionsCommand({
      State: 'History',
      Filters: [{ key: 'Owner', value: userArn }],
      MaxResults: 50,
    }),
  );
  return (out.Sessions ?? []).map((s) => ({
    sessionId: s.SessionId ?? '',
    target: s.Target ?? '',
    status: s.Status ?? '',
    startDate: s.StartDate?.toISOString(),
    endDate: s.EndDate?.toISOString(),
  }));
}

/**
 * A wrong matrix within the propagation window of the user's or policy's last change is retried;
 * after it, it is a failure. The times come from IAM itself, so every retry agrees on the window.
 */
async function failOnWrongMatrix(
  wrong: AccessCell[],
  input: Input,
  { iam }: Clients,
  now: Date,
): Promise<never> {
  const cells = wrong
    .map((c) => `${c.role} ${c.nodeId}: expected ${c.expected}, got ${c.actual} (${c.decision})`)
    .join('; ');
  const [user, policy] = await Promise.all([
    ignoreErrors(
      () => iam.send(new GetUserCommand({ UserName: input.user.userName })),
      'NoSuchEntityException',
    ),
    ignoreErrors(
      () => iam.send(new GetPolicyCommand({ PolicyArn: input.user.policyArn })),
      'NoSuchEntityException',
    ),
  ]);
  const changed = Math.max(
    user?.User?.CreateDate?.getTime() ?? 0,
    policy?.Policy?.UpdateDate?.getTime() ?? policy?.Policy?.CreateDate?.getTime() ?? 0,
  );
  const ageSeconds = (now.getTime() - changed) / 1000;
  if (user && policy && ageSeconds < input.propagationWindowSeconds) {
    throw new NotReadyYet(
      `access matrix not as expected ${Math.round(ageSeconds)} s after the user or policy changed (IAM propagation): ${cells}`,
    );
  }
  throw new LabStateMismatch(`access matrix not as expected for ${input.user.userName}: ${cells}`);
}
