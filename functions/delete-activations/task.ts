import { paginateGetParametersByPath } from '@aws-sdk/client-ssm';
import * as z from 'zod';
import { deleteLabActivations } from '../shared/activations.js';
import type { LabClients } from '../shared/clients.js';
import { labIdSchema, labPath } from '../shared/names.js';
import { deleteParameter } from '../shared/secrets.js';

export const inputSchema = z.object({ labId: labIdSchema });
export type Input = z.output<typeof inputSchema>;

export interface Output {
  deletedActivations: string[];
  deletedParameters: string[];
}

/**
 * Teardown step 2, and provision-lab's failure path: the lab's activations (by their lab tag) and
 * their code parameters (everything under `<labPath>/activation`). Deleting an activation does not
 * deregister its nodes: in teardown deregister-nodes runs next and removes them. Going first, this
 * step refuses a registration still running from a failed provision, which would otherwise add a
 * node after the nodes were deregistered. InvalidActivation / InvalidActivationId mean already
 * gone: a provision that finished deleted them and their codes in close-bootstrap-access, and one
 * that failed after create-activations ran this step on its way to recording the failure, so in
 * teardown it usually finds nothing and deletes nothing.
 */
export async function deleteActivations({ labId }: Input, { ssm }: Pick<LabClients, 'ssm'>): Promise<Output> {
  const deletedActivations = await deleteLabActivations(ssm, labId);

  // Names only: without WithDecryption the SecureString values come back encrypted, and they are
  // not looked at.
  const deletedParameters: string[] = [];
  const pages = paginateGetParametersByPath(
    { client: ssm },
    { Path: `${labPath(labId)}/activation`, Recursive: true },
  );
  for await (const page of pages) {
    for (const parameter of page.Parameters ?? []) if (parameter.Name) deletedParameters.push(parameter.Name);
  }
  for (const name of deletedParameters) await deleteParameter(ssm, name);
  return { deletedActivations, deletedParameters };
}
