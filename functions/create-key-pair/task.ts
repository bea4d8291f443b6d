import { CreateKeyPairCommand, DeleteKeyPairCommand } from '@aws-sdk/client-ec2';
import * as z from 'zod';
import type { LabClients } from '../shared/clients.js';
import { NotReadyYet, isErrorNamed } from '../shared/errors.js';
import { labConfigSchema, type LabConfig } from '../shared/lab-config.js';
import { logger } from '../shared/logger.js';
import { labNames } from '../shared/names.js';
import { parameterExists, putSecureParameter } from '../shared/secrets.js';
import { labTags } from '../shared/tags.js';

export const inputSchema = z.object({ lab: labConfigSchema }).strict();
export type CreateKeyPairInput = { lab: LabConfig };

export interface CreateKeyPairOutput {
  keyName: string;
  privateKeyParameter: string;
}

/**
 * Seed step 3.1: the key pair the bootstrap host uses to reach the mock on-premises hosts. The
 * private key goes from the CreateKeyPair response straight into a SecureString; only names leave.
 * EC2 returns the private key once: an existing key pair is reused only if its key
 * was stored, otherwise it is deleted and created again.
 */
export async function createKeyPair(
  input: CreateKeyPairInput,
  clients: Pick<LabClients, 'ec2' | 'ssm'>,
): Promise<CreateKeyPairOutput> {
  const names = labNames(input.lab.labId);
  const keyName = names.keyPair;
  const privateKeyParameter = names.privateKeyParameter;
  const tags = labTags(input.lab.labId);
  const create = () =>
    clients.ec2.send(
      new CreateKeyPairCommand({
        KeyName: keyName,
        KeyType: 'rsa',
        KeyFormat: 'pem',
        TagSpecifications: [{ ResourceType: 'key-pair', Tags: tags }],
      }),
    );

  let created;
  try {
    created = await create();
  } catch (err) {
    if (!isErrorNamed(err, 'InvalidKeyPair.Duplicate')) throw err;
    if (await parameterExists(clients.ssm, privateKeyParameter)) return { keyName, privateKeyParameter };
    // A crash between create and store lost the private key: nobody can use this key pair.
    logger.info('key pair exists without its stored private key; recreating it', { keyName });
    await clients.ec2.send(new DeleteKeyPairCommand({ KeyName: keyName }));
    try {
      created = await create();
    } catch (again) {
      // EC2 is eventually consistent: the deleted key pair can still be seen for a moment.
      if (isErrorNamed(again, 'InvalidKeyPair.Duplicate')) {
        throw new NotReadyYet(`key pair ${keyName} is still being deleted`, { cause: again });
      }
      throw again;
    }
  }
  await putSecureParameter(clients.ssm, privateKeyParameter, created.KeyMaterial!, tags);
  return { keyName, privateKeyParameter };
}
