import {
  DeleteActivationCommand,
  DeleteParameterCommand,
  DescribeActivationsCommand,
  GetParametersByPathCommand,
  type DescribeActivationsFilter,
  SSMClient,
} from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { deleteActivations } from '../../../functions/delete-activations/task.js';
import { awsError, inputsOf, testClients } from '../../helpers/aws-mock.js';

const ssm = mockClient(SSMClient);

const activation = (id: string, labId?: string, name = `DevOnPrem-${labId ?? 'other'}`) => ({
  ActivationId: id,
  DefaultInstanceName: name,
  Tags: labId
    ? [
        { Key: 'session-lab:lab-id', Value: labId },
        { Key: 'Environment', Value: 'Dev' },
      ]
    : [],
});

/**
 * Activations (paged by two, filtered by DefaultInstanceName as the API can, never by tag) and
 * parameters, removed by the delete calls.
 */
function fakeSsm(activations: ReturnType<typeof activation>[], parameters: string[]) {
  const state = { activations: [...activations], parameters: [...parameters] };
  ssm.on(DescribeActivationsCommand).callsFake(({ NextToken, Filters = [] }) => {
    const names = Filters.find(
      (f: DescribeActivationsFilter) => f.FilterKey === 'DefaultInstanceName',
    )?.FilterValues;
    const listed = state.activations.filter((a) => !names || names.includes(a.DefaultInstanceName));
    const start = Number(NextToken ?? 0);
    return {
      ActivationList: listed.slice(start, start + 2),
      NextToken: start + 2 < listed.length ? String(start + 2) : undefined,
    };
  });
  ssm.on(DeleteActivationCommand).callsFake(({ ActivationId }) => {
    const i = state.activations.findIndex((a) => a.ActivationId === ActivationId);
    if (i < 0) throw awsError('InvalidActivation');
    state.activations.splice(i, 1);
    return {};
  });
  ssm.on(GetParametersByPathCommand).callsFake(({ Path, Recursive, WithDecryption }) => {
    expect(Recursive).toBe(true);
    expect(WithDecryption).toBeUndefined();
    return {
      Parameters: state.parameters
        .filter((name) => name.startsWith(`${Path}/`))
        .map((Name) => ({ Name, Type: 'SecureString', Value: 'AQICAH-ciphertext' })),
    };
  });
  ssm.on(DeleteParameterCommand).callsFake(({ Name }) => {
    const i = state.parameters.indexOf(Name);
    if (i < 0) throw awsError('ParameterNotFound');
    state.parameters.splice(i, 1);
    return {};
  });
  return state;
}

const ID = (n: number) => `0000000${n}-1111-4222-8333-444455556666`;

beforeEach(() => ssm.reset());

describe('deleteActivations', () => {
  it('deletes the activations tagged with the lab, across pages, and the code parameters', async () => {
    const state = fakeSsm(
      [
        activation(ID(1), 'other'),
        activation(ID(2), 'demo'),
        activation(ID(3)),
        activation(ID(4), 'demo', 'ProdOnPrem-demo'),
        activation(ID(5), 'other', 'DevOnPrem-demo'),
        activation(ID(6), 'demo', 'DevOnPrem-demo'),
      ],
      [
        '/session-lab/demo/activation/Dev/code',
        '/session-lab/demo/activation/Prod/code',
        '/session-lab/demo/key-pair/private-key',
        '/session-lab/demo-2/activation/Dev/code',
      ],
    );
    await expect(deleteActivations({ labId: 'demo' }, testClients())).resolves.toEqual({
      deletedActivations: [ID(2), ID(4), ID(6)],
      deletedParameters: ['/session-lab/demo/activation/Dev/code', '/session-lab/demo/activation/Prod/code'],
    });
    expect(state.activations.map((a) => a.ActivationId)).toEqual([ID(1), ID(3), ID(5)]);
    // Only the lab's host names are listed: never every activation of the Region.
    for (const { Filters } of inputsOf(ssm, DescribeActivationsCommand)) {
      expect(Filters).toEqual([
        { FilterKey: 'DefaultInstanceName', FilterValues: ['ProdOnPrem-demo', 'DevOnPrem-demo'] },
      ]);
    }
    expect(state.parameters).toEqual([
      '/session-lab/demo/key-pair/private-key',
      '/session-lab/demo-2/activation/Dev/code',
    ]);
  });

  it('never returns a parameter value', async () => {
    fakeSsm([], ['/session-lab/demo/activation/Dev/code']);
    const out = await deleteActivations({ labId: 'demo' }, testClients());
    expect(JSON.stringify(out)).not.toContain('ciphertext');
  });

  it.each(['InvalidActivation', 'InvalidActivationId'])('treats %s as already deleted', async (name) => {
    fakeSsm([activation(ID(2), 'demo')], []);
    ssm.on(DeleteActivationCommand).rejects(awsError(name));
    await expect(deleteActivations({ labId: 'demo' }, testClients())).resolves.toMatchObject({
      deletedActivations: [ID(2)],
    });
  });

  it('is a no-op the second time', async () => {
    fakeSsm([activation(ID(2), 'demo')], ['/session-lab/demo/activation/Dev/code']);
    await deleteActivations({ labId: 'demo' }, testClients());
    await expect(deleteActivations({ labId: 'demo' }, testClients())).resolves.toEqual({
      deletedActivations: [],
      deletedParameters: [],
    });
    expect(inputsOf(ssm, DeleteActivationCommand)).toHaveLength(1);
  });

  it('propagates TooManyUpdates for a retry', async () => {
    fakeSsm([activation(ID(2), 'demo')], []);
    ssm.on(DeleteActivationCommand).rejects(awsError('TooManyUpdates'));
    await expect(deleteActivations({ labId: 'demo' }, testClients())).rejects.toMatchObject({
      name: 'TooManyUpdates',
    });
  });
});
