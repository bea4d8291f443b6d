import { DeleteActivationCommand, type SSMClient } from '@aws-sdk/client-ssm';
import { findLabActivations } from './discovery.js';
import { ignoreErrors } from './errors.js';
import { ENVIRONMENTS, labNames } from './names.js';
import { deleteParameter } from './secrets.js';

/**
 * Deletes the lab's activations (found by their lab tag among the lab's host names) and returns
 * their ids. Deleting an activation does not deregister the nodes registered with it; it only
 * stops new registrations. An activation already gone (InvalidActivation /
 * InvalidActivationId) counts as deleted, so a rerun converges.
 */
export async function deleteLabActivations(ssm: SSMClient, labId: string): Promise<string[]> {
  const ids = (await findLabActivations(ssm, labId)).map((a) => a.ActivationId!).filter(Boolean);
  for (const ActivationId of ids) {
    await ignoreErrors(
      () => ssm.send(new DeleteActivationCommand({ ActivationId })),
      'InvalidActivation',
      'InvalidActivationId',
    );
  }
  return ids;
}

/**
 * Deletes the lab's activation code parameters by their exact names (one per environment) and
 * returns those names; a parameter already gone (ParameterNotFound) counts as deleted.
 */
export async function deleteActivationCodes(ssm: SSMClient, labId: string): Promise<string[]> {
  const names = ENVIRONMENTS.map((environment) => labNames(labId).activationCodeParameter(environment));
  for (const name of names) await deleteParameter(ssm, name);
  return names;
}
