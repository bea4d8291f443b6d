import {
  DeleteKeyPairCommand,
  DescribeInstancesCommand,
  RevokeSecurityGroupIngressCommand,
  TerminateInstancesCommand,
} from '@aws-sdk/client-ec2';
import { DeleteActivationCommand, DeleteParameterCommand } from '@aws-sdk/client-ssm';
import {
  closeBootstrapAccess,
  type CloseBootstrapAccessInput,
} from '../../../functions/close-bootstrap-access/task.js';
import { createActivations } from '../../../functions/create-activations/task.js';
import { createKeyPair } from '../../../functions/create-key-pair/task.js';
import { createNetwork } from '../../../functions/create-network/task.js';
import { launchInstances } from '../../../functions/launch-instances/task.js';
import { SHARED_NAMES } from '../../../functions/shared/names.js';
import { toTagRecord } from '../../../functions/shared/tags.js';
import { awsError, testLab, throttled } from '../../helpers/aws.js';
import { FakeEc2 } from '../../helpers/fake-ec2.js';
import { FakeIam } from '../../helpers/fake-iam.js';
import { callerSts } from '../../helpers/aws-mock.js';
import { FakeSsm } from '../../helpers/fake-ssm.js';

const lab = testLab();
let ec2: FakeEc2;
let ssm: FakeSsm;
let input: CloseBootstrapAccessInput;

/** The lab as provisioning leaves it before this step: SSH open from the bootstrap group, key stored. */
beforeEach(async () => {
  ec2 = new FakeEc2();
  ssm = new FakeSsm();
  ssm.parameters.set(SHARED_NAMES.amiParameter, {
    value: 'ami-0123456789abcdef0',
    type: 'String',
    tags: [],
    version: 1,
  });
  const clients = { ec2: ec2.client, ssm: ssm.client, iam: new FakeIam().client, sts: callerSts() };
  const network = await createNetwork({ lab }, clients);
  const key = await createKeyPair({ lab }, clients);
  const { instances } = await launchInstances(
    { lab, instanceProfileName: 'SSMLabProfile', ...key, network },
    clients,
  );
  ec2.setState('running');
  input = {
    lab,
    network,
    ...key,
    bootstrapInstanceId: instances.find((i) => i.role === 'Bootstrap')!.instanceId,
  };
  ec2.mock.resetHistory();
  ssm.mock.resetHistory();
});

const run = (given = input) => closeBootstrapAccess(given, { ec2: ec2.client, ssm: ssm.client });

describe('closeBootstrapAccess', () => {
  it('revokes the SSH rule, terminates the bootstrap host, deletes the key pair and its parameter', async () => {
    expect(ec2.group(input.network.onPremSecurityGroupId).IpPermissions).toHaveLength(1);
    await expect(run()).resolves.toEqual({
      closed: true,
      ingressRulesRevoked: 1,
      keyName: 'MyKeyPair-demo',
      privateKeyParameter: '/session-lab/demo/key-pair/private-key',
      bootstrapInstanceId: input.bootstrapInstanceId,
      bootstrapState: 'shutting-down',
      deletedActivations: [],
      deletedActivationCodes: [
        '/session-lab/demo/activation/Dev/code',
        '/session-lab/demo/activation/Prod/code',
      ],
    });
    expect(ec2.group(input.network.onPremSecurityGroupId).IpPermissions).toEqual([]);
    expect(ec2.group(input.network.bootstrapSecurityGroupId).IpPermissions).toEqual([]);
    expect(ec2.instances.get(input.bootstrapInstanceId)!.State!.Name).toBe('shutting-down');
    expect(ec2.keyPairs.has('MyKeyPair-demo')).toBe(false);
    expect(ssm.parameters.has('/session-lab/demo/key-pair/private-key')).toBe(false);
    // The lab hosts keep running.
    const others = [...ec2.instances.values()].filter((i) => i.InstanceId !== input.bootstrapInstanceId);
    expect(others.every((i) => i.State!.Name === 'running')).toBe(true);
  });

  it('running twice converges: the second run finds everything done', async () => {
    await run();
    ec2.setState('terminated', [input.bootstrapInstanceId]);
    await expect(run()).resolves.toMatchObject({
      closed: true,
      ingressRulesRevoked: 0,
      bootstrapState: 'terminated',
    });
    expect(ec2.mock.commandCalls(RevokeSecurityGroupIngressCommand)).toHaveLength(1);
    expect(ec2.mock.commandCalls(TerminateInstancesCommand)).toHaveLength(1);
  });

  it('a lab provisioned again (no registration command): closes what the new run opened, keeps the lab hosts', async () => {
    await run();
    ec2.setState('terminated', [input.bootstrapInstanceId]);
    // The second run: the rule and the key come back, the lab hosts are reused, a new bootstrap host.
    const lab2 = testLab({ runId: 'provision-demo-2' });
    const clients = { ec2: ec2.client, ssm: ssm.client, iam: new FakeIam().client, sts: callerSts() };
    const network = await createNetwork({ lab: lab2 }, clients);
    const key = await createKeyPair({ lab: lab2 }, clients);
    const { instances } = await launchInstances(
      { lab: lab2, instanceProfileName: 'SSMLabProfile', ...key, network },
      clients,
    );
    const bootstrapInstanceId = instances.find((i) => i.role === 'Bootstrap')!.instanceId;
    expect(bootstrapInstanceId).not.toBe(input.bootstrapInstanceId);
    ec2.setState('running', [bootstrapInstanceId]);
    await expect(run({ lab: lab2, network, ...key, bootstrapInstanceId })).resolves.toMatchObject({
      closed: true,
      ingressRulesRevoked: 1,
      bootstrapInstanceId,
      bootstrapState: 'shutting-down',
    });
    expect(ec2.group(network.onPremSecurityGroupId).IpPermissions).toEqual([]);
    expect(ec2.keyPairs.has('MyKeyPair-demo')).toBe(false);
    const up = [...ec2.instances.values()].filter((i) => i.State!.Name === 'running');
    expect(up.map((i) => toTagRecord(i.Tags).Name).sort()).toEqual([
      'DevEC2Instance-demo',
      'DevOnPrem-demo',
      'ProdEC2Instance-demo',
      'ProdOnPrem-demo',
    ]);
  });

  it('treats each "already gone" answer as done', async () => {
    await createActivations(
      { lab, serviceRoleName: 'SSMServiceRole' },
      { ec2: ec2.client, ssm: ssm.client, iam: new FakeIam().client, sts: callerSts() },
    );
    ssm.mock.resetHistory();
    // Removed by someone else between our read and our revoke.
    ec2.mock.on(RevokeSecurityGroupIngressCommand).callsFake((request: { GroupId: string }) => {
      ec2.group(request.GroupId).IpPermissions = [];
      throw awsError('InvalidPermission.NotFound');
    });
    ec2.mock.on(DeleteKeyPairCommand).rejects(awsError('InvalidKeyPair.NotFound'));
    ec2.mock.on(DescribeInstancesCommand).rejects(awsError('InvalidInstanceID.NotFound'));
    ssm.parameters.clear();
    // Deleted by someone else (a teardown) between our read and our delete.
    ssm.mock.on(DeleteActivationCommand).rejects(awsError('InvalidActivation'));
    await expect(run()).resolves.toMatchObject({ closed: true, bootstrapState: 'gone' });
    // The key and the two codes, each already gone.
    expect(ssm.mock.commandCalls(DeleteParameterCommand)).toHaveLength(3);
    expect(ssm.mock.commandCalls(DeleteActivationCommand)).toHaveLength(2);
    expect(ec2.mock.commandCalls(TerminateInstancesCommand)).toHaveLength(0);
  });

  it("deletes the lab's activations and their codes (registration is done), not another lab's", async () => {
    const clients = { ec2: ec2.client, ssm: ssm.client, iam: new FakeIam().client, sts: callerSts() };
    const mine = await createActivations({ lab, serviceRoleName: 'SSMServiceRole' }, clients);
    const other = await createActivations(
      { lab: testLab({ labId: 'demo-2' }), serviceRoleName: 'SSMServiceRole' },
      clients,
    );
    expect(ssm.activations.size).toBe(4);
    const out = await run();
    expect(out.deletedActivations.sort()).toEqual(mine.activations.map((a) => a.activationId).sort());
    expect(out.deletedActivationCodes).toEqual(mine.activations.map((a) => a.codeParameter));
    for (const { codeParameter } of mine.activations) expect(ssm.parameters.has(codeParameter)).toBe(false);
    expect([...ssm.activations.keys()].sort()).toEqual(other.activations.map((a) => a.activationId).sort());
    for (const { codeParameter } of other.activations) expect(ssm.parameters.has(codeParameter)).toBe(true);
    // Run again: nothing left to delete, and no error.
    ec2.setState('terminated', [input.bootstrapInstanceId]);
    await expect(run()).resolves.toMatchObject({ deletedActivations: [] });
    expect(ssm.mock.commandCalls(DeleteActivationCommand)).toHaveLength(2);
  });

  it('removes any other inbound rule on the lab groups too', async () => {
    ec2.group(input.network.bootstrapSecurityGroupId).IpPermissions!.push({
      IpProtocol: 'tcp',
      FromPort: 22,
      ToPort: 22,
      IpRanges: [{ CidrIp: '0.0.0.0/0' }],
      UserIdGroupPairs: [],
    });
    await expect(run()).resolves.toMatchObject({ ingressRulesRevoked: 2 });
    expect(ec2.group(input.network.bootstrapSecurityGroupId).IpPermissions).toEqual([]);
  });

  it("never terminates an instance that is not this lab's bootstrap host", async () => {
    const devHost = ec2.byName('DevEC2Instance-demo')!.InstanceId!;
    await expect(run({ ...input, bootstrapInstanceId: devHost })).rejects.toMatchObject({
      name: 'LabStateMismatch',
    });
    expect(ec2.mock.commandCalls(TerminateInstancesCommand)).toHaveLength(0);
    expect(ec2.instances.get(devHost)!.State!.Name).toBe('running');
  });

  it.each([
    [{ keyName: 'SomeoneElsesKey' }, 'keyName'],
    [{ privateKeyParameter: '/session-lab/other/key-pair/private-key' }, 'privateKeyParameter'],
  ])("refuses to delete a key or parameter that is not the lab's (%j)", async (change, field) => {
    await expect(run({ ...input, ...change })).rejects.toMatchObject({ name: 'InvalidLabInput', field });
    expect(ec2.mock.commandCalls(DeleteKeyPairCommand)).toHaveLength(0);
  });

  it('propagates throttling for the Step Functions retry', async () => {
    ec2.mock.on(TerminateInstancesCommand).rejects(throttled.ec2());
    await expect(run()).rejects.toMatchObject({ name: 'RequestLimitExceeded' });
  });
});

describe('closeBootstrapAccess read-back', () => {
  it('a rule still listed after the revoke (not applied yet) is NotReadyYet, not success', async () => {
    ec2.mock.on(RevokeSecurityGroupIngressCommand).resolves({ Return: true });
    await expect(run()).rejects.toMatchObject({
      name: 'NotReadyYet',
      message: expect.stringMatching(/inbound rules/),
    });
  });
});
