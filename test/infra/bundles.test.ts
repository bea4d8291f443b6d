import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from '@jest/globals';
import { MAX_BUNDLE_BYTES, oversized } from '../../esbuild.config.mjs';
import { ensureBundles } from '../../local/deployment/artifacts.js';

/**
 * What each Lambda bundle carries (issue 20): its own AWS SDK clients, never the runtime's, and
 * only those its function calls, so that none weighs more than MAX_BUNDLE_BYTES (which
 * `npm run build` also refuses).
 */
interface Bundle {
  name: string;
  bytes: number;
  code: string;
}

/** The AWS service namespaces whose schemas a bundle holds (`com.amazonaws.ec2`, ...). */
const services = ({ code }: Bundle) =>
  new Set([...code.matchAll(/"com\.amazonaws\.(\w+)"/g)].map((m) => m[1]));

describe('Lambda bundles', () => {
  let bundles: Bundle[] = [];
  const bundle = (name: string) => bundles.find((b) => b.name === name)!;
  beforeAll(async () => {
    const dir = await ensureBundles();
    bundles = readdirSync(dir).map((name) => {
      const file = join(dir, name, 'index.mjs');
      return { name, bytes: statSync(file).size, code: readFileSync(file, 'utf8') };
    });
  }, 240_000);

  it(`are each at most ${MAX_BUNDLE_BYTES / 1024 / 1024} MiB`, () => {
    expect(bundles.length).toBeGreaterThan(20);
    expect(oversized(bundles).map(({ name, bytes }) => `${name}: ${bytes} bytes`)).toEqual([]);
  });

  it('import no AWS SDK or Smithy package at run time: each carries its own', () => {
    // An SDK error message quotes `[require("@aws-sdk/signature-v4-crt")]`; the `[` tells it apart.
    const sdkImport = /(?<!\[)\b(?:from|import|require)\s*\(?\s*["']@(?:aws-sdk|smithy)\//;
    expect(bundles.filter(({ code }) => sdkImport.test(code)).map(({ name }) => name)).toEqual([]);
    expect(services(bundle('terminate-instances')).has('ec2')).toBe(true);
  });

  it('carry the SDK clients their task declares and no other', () => {
    // Every task records its progress (DynamoDB, EventBridge); the credential chain brings STS and SSO.
    const verify = services(bundle('verify-lab'));
    for (const service of ['ec2', 'iam', 'cloudwatchlogs', 'ssm']) expect(verify.has(service)).toBe(true);
    for (const service of ['s3', 'secretsmanager', 'cloudtrail', 'sfn'])
      expect(verify.has(service)).toBe(false);
    const terminate = services(bundle('terminate-instances'));
    for (const service of ['iam', 'ssm', 's3']) expect(terminate.has(service)).toBe(false);
    expect(services(bundle('record-lab-status')).has('ec2')).toBe(false);
  });

  it('flags a bundle over the limit', () => {
    expect(
      oversized([
        { name: 'small', bytes: MAX_BUNDLE_BYTES },
        { name: 'large', bytes: MAX_BUNDLE_BYTES + 1 },
      ]).map(({ name }) => name),
    ).toEqual(['large']);
  });
});
