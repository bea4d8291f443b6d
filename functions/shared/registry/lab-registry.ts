import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import * as z from 'zod';
import { readEnv } from '../env.js';
import { LabRecords } from './lab-records.js';
import { ReadyMarkStore } from './ready-marks.js';
import { SharedLocks } from './shared-locks.js';
import { RegistryTable, documentClient, registryEnvSchema } from './table.js';

/**
 * The lab registry: one DynamoDB table holding every lab (`labs`), the account-wide singletons'
 * reference counts (`locks`) and their ready marks (`marks`). Construct it with `labRegistry()` in
 * handlers; inject one over a test client in tests.
 */
export class LabRegistry {
  readonly table: RegistryTable;
  readonly labs: LabRecords;
  readonly locks: SharedLocks;
  readonly marks: ReadyMarkStore;

  constructor(doc: Pick<DynamoDBDocumentClient, 'send'>, tableName: string, clock?: () => Date) {
    this.table = new RegistryTable(doc, tableName, clock);
    this.labs = new LabRecords(this.table);
    this.locks = new SharedLocks(this.table);
    this.marks = new ReadyMarkStore(this.table);
  }
}

/**
 * The registry named by REGISTRY_TABLE (validated; a malformed name fails naming the variable), or
 * undefined when the deployment has none.
 */
export function labRegistry(env: NodeJS.ProcessEnv = process.env): LabRegistry | undefined {
  const { REGISTRY_TABLE } = readEnv(registryEnvSchema, env);
  return REGISTRY_TABLE ? new LabRegistry(documentClient(), REGISTRY_TABLE) : undefined;
}

/** Like labRegistry, for functions that cannot work without one (the API). */
export function requiredLabRegistry(env: NodeJS.ProcessEnv = process.env): LabRegistry {
  const { REGISTRY_TABLE } = readEnv(
    z.object({ REGISTRY_TABLE: registryEnvSchema.shape.REGISTRY_TABLE.unwrap() }),
    env,
  );
  return new LabRegistry(documentClient(), REGISTRY_TABLE);
}
