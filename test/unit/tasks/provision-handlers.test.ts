import type { Context } from 'aws-lambda';
import { handler as closeBootstrapAccess } from '../../../functions/close-bootstrap-access/handler.js';
import { handler as createActivations } from '../../../functions/create-activations/handler.js';
import { handler as createInstanceRole } from '../../../functions/create-instance-role/handler.js';
import { handler as createKeyPair } from '../../../functions/create-key-pair/handler.js';
import { handler as createNetwork } from '../../../functions/create-network/handler.js';
import { handler as createServiceRole } from '../../../functions/create-service-role/handler.js';
import { handler as launchInstances } from '../../../functions/launch-instances/handler.js';
import { handler as registerAgents } from '../../../functions/register-agents/handler.js';
import { handler as waitForInstances } from '../../../functions/wait-for-instances/handler.js';
import { handler as waitForRegistration } from '../../../functions/wait-for-registration/handler.js';
import { testLab } from '../../helpers/aws.js';
import { ACTIVATIONS, BOOTSTRAP_ID, INSTANCES } from '../../helpers/lab-fixtures.js';

const context = { functionName: 'test', awsRequestId: 'r' } as unknown as Context;
const lab = testLab();
const network = {
  vpcId: 'vpc-0aaaaaaaaaaaaaaaa',
  subnetId: 'subnet-0a0000000000000',
  bootstrapSecurityGroupId: 'sg-0b00000000000000b',
  onPremSecurityGroupId: 'sg-0c00000000000000c',
};

/**
 * The handlers' wiring: each refuses the payload the state machine would send with one field
 * wrong, naming that field, before any AWS call (no endpoint or credentials are set up here).
 */
describe('provision task handlers', () => {
  const rows = [
    ['create-instance-role', createInstanceRole, { lab }, 'lab'],
    ['create-service-role', createServiceRole, { extra: true }, 'extra'],
    [
      'create-activations',
      createActivations,
      { lab, serviceRoleName: 'no spaces allowed' },
      'serviceRoleName',
    ],
    ['create-key-pair', createKeyPair, { lab: { ...lab, labId: 'NO' } }, 'lab.labId'],
    ['create-network', createNetwork, { lab: { ...lab, runId: undefined } }, 'lab.runId'],
    [
      'launch-instances',
      launchInstances,
      { lab, instanceProfileName: 'SSMLabProfile', keyName: 'k', network: { ...network, subnetId: 'sg-1' } },
      'network.subnetId',
    ],
    [
      'wait-for-instances',
      waitForInstances,
      { lab, instances: [{ ...INSTANCES[0], privateIpAddress: '10.0.0.300' }] },
      'instances.0.privateIpAddress',
    ],
    [
      'register-agents',
      registerAgents,
      {
        lab,
        instances: INSTANCES,
        activations: [{ ...ACTIVATIONS[0], codeParameter: "/session-lab/x'; reboot" }],
        privateKeyParameter: '/session-lab/demo/key-pair/private-key',
      },
      'activations.0.codeParameter',
    ],
    [
      'wait-for-registration',
      waitForRegistration,
      { lab, commandId: 'x', bootstrapInstanceId: BOOTSTRAP_ID, instances: INSTANCES },
      'commandId',
    ],
    [
      'close-bootstrap-access',
      closeBootstrapAccess,
      { lab, network, keyName: 'k', privateKeyParameter: '/elsewhere', bootstrapInstanceId: BOOTSTRAP_ID },
      'privateKeyParameter',
    ],
  ] as const;
  it.each(rows.map(([name, handler, payload, field]) => [name, field, payload, handler] as const))(
    '%s refuses a bad payload naming %s',
    async (_name, field, payload, handler) => {
      await expect(
        (handler as (e: unknown, c: Context) => Promise<unknown>)(payload, context),
      ).rejects.toMatchObject({
        name: 'InvalidLabInput',
        field,
      });
    },
  );
});
