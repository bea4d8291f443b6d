import { createHash } from 'node:crypto';
import { AssociateIamInstanceProfileCommand, DescribeInstancesCommand, EC2Client } from '@aws-sdk/client-ec2';
import { GetInstanceProfileCommand, IAMClient } from '@aws-sdk/client-iam';
import { XMLParser } from 'fast-xml-parser';
import type { EmulatorContext, OperationHandler } from '../context.js';
import { AwsError, RawReply } from '../protocol.js';
import { recordLaunch } from './managed-nodes/fleet.js';

/**
 * EC2 where moto differs from AWS in ways the product's error handling depends on: RunInstances
 * idempotency by ClientToken and the InvalidParameterValue for an unknown instance profile. Key pairs
 * pass through, but the emulator remembers a digest of each private key so the simulated ssh can
 * tell the right key file from a wrong one.
 */

interface TokenEntry {
  fingerprint: string;
  /** Pending while the first launch is in flight, so a concurrent retry waits for the same answer. */
  reply: Promise<RawReply>;
}

interface Ec2State {
  tokens: Map<string, TokenEntry>;
  /** `region:keyName` -> SHA-256 of the private key EC2 handed out. */
  keyDigests: Map<string, string>;
  /** `region:keyPairId` -> key name, for DeleteKeyPair by id. */
  keyIds: Map<string, string>;
}

const state = (ctx: EmulatorContext): Ec2State =>
  ctx.slice('ec2-fidelity', () => ({ tokens: new Map(), keyDigests: new Map(), keyIds: new Map() }));

const xml = new XMLParser({ processEntities: true, parseTagValue: false });

/** The digest ssh compares: line endings and surrounding whitespace do not change a PEM key. */
export function digestKeyMaterial(text: string): string {
  return createHash('sha256').update(text.replace(/\r\n/g, '\n').trim()).digest('hex');
}

/** The digest of the private key of key pair `keyName`, if EC2 created it here. */
export function keyDigest(ctx: EmulatorContext, region: string, keyName: string): string | undefined {
  return state(ctx).keyDigests.get(`${region}:${keyName}`);
}

/** Every request parameter but the token itself, in a stable order: "the same parameters". */
function fingerprint(body: Buffer): string {
  const params = [...new URLSearchParams(body.toString('utf8'))].filter(([k]) => k !== 'ClientToken');
  return JSON.stringify(params.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

async function checkInstanceProfile(ctx: EmulatorContext, profile: { Name?: string; Arn?: string }) {
  const byArn = profile.Name === undefined && profile.Arn !== undefined;
  const given = String(byArn ? profile.Arn : profile.Name);
  const name = byArn ? given.slice(given.lastIndexOf('/') + 1) : given;
  try {
    await ctx.moto(IAMClient, 'us-east-1').send(new GetInstanceProfileCommand({ InstanceProfileName: name }));
  } catch (err) {
    if (!(err as Error).name.startsWith('NoSuchEntity')) throw err;
    throw new AwsError(
      'InvalidParameterValue',
      byArn
        ? `Value (${given}) for parameter iamInstanceProfile.arn is invalid. Invalid IAM Instance Profile ARN`
        : `Value (${given}) for parameter iamInstanceProfile.name is invalid. Invalid IAM Instance Profile name`,
    );
  }
}

/**
 * moto attaches the instance profile to the first instance of a multi-instance launch only; AWS
 * attaches it to all, and the fleet reads it from DescribeInstances.
 */
async function associateProfile(
  ctx: EmulatorContext,
  region: string,
  ids: string[],
  profile: { Name?: string; Arn?: string },
): Promise<void> {
  const ec2 = ctx.moto(EC2Client, region);
  const { Reservations } = await ec2.send(new DescribeInstancesCommand({ InstanceIds: ids }));
  for (const instance of Reservations?.flatMap((r) => r.Instances ?? []) ?? []) {
    if (instance.IamInstanceProfile) continue;
    await ec2.send(
      new AssociateIamInstanceProfileCommand({
        InstanceId: instance.InstanceId,
        IamInstanceProfile: profile,
      }),
    );
  }
}

export const ec2Fidelity: Record<string, OperationHandler> = {
  async RunInstances(call, ctx) {
    const token = call.input.ClientToken === undefined ? undefined : String(call.input.ClientToken);
    const key = `${call.region}:${token}`;
    const print = fingerprint(call.raw.body);
    if (token !== undefined) {
      if (token.length > 64) {
        throw new AwsError(
          'InvalidParameterValue',
          'Value for parameter clientToken is invalid: at most 64 chars.',
        );
      }
      const seen = state(ctx).tokens.get(key);
      if (seen && seen.fingerprint === print) return seen.reply;
      if (seen) {
        throw new AwsError(
          'IdempotentParameterMismatch',
          `The client token you have provided is associated with a resource that is already deleted or has different parameters. Client token: ${token}`,
        );
      }
    }
    const launch = async (): Promise<RawReply> => {
      const given = call.input.IamInstanceProfile as { Name?: string; Arn?: string } | undefined;
      const profile = given && (given.Name !== undefined || given.Arn !== undefined) ? given : undefined;
      if (profile) await checkInstanceProfile(ctx, profile);
      const reply = await ctx.forward(call);
      if (reply.status === 200) {
        const now = Date.now();
        const ids = [...reply.body.toString().matchAll(/<instanceId>(i-[0-9a-f]+)<\/instanceId>/g)].map(
          (m) => m[1]!,
        );
        for (const id of ids) recordLaunch(ctx, id, now);
        if (profile && ids.length > 1) await associateProfile(ctx, call.region, ids, profile);
      }
      return reply;
    };
    if (token === undefined) return launch();
    const entry: TokenEntry = { fingerprint: print, reply: launch() };
    state(ctx).tokens.set(key, entry);
    try {
      const reply = await entry.reply;
      // Only a launch that happened binds the token; a refused request may be retried with it.
      if (reply.status !== 200) state(ctx).tokens.delete(key);
      return reply;
    } catch (err) {
      state(ctx).tokens.delete(key);
      throw err;
    }
  },

  async CreateKeyPair(call, ctx) {
    const reply = await ctx.forward(call);
    if (reply.status !== 200) return reply;
    const parsed = xml.parse(reply.body.toString()) as {
      CreateKeyPairResponse?: { keyName?: string; keyMaterial?: string; keyPairId?: string };
    };
    const result = parsed.CreateKeyPairResponse;
    if (result?.keyName && result.keyMaterial) {
      const { keyDigests, keyIds } = state(ctx);
      keyDigests.set(`${call.region}:${result.keyName}`, digestKeyMaterial(result.keyMaterial));
      if (result.keyPairId) keyIds.set(`${call.region}:${result.keyPairId}`, result.keyName);
    }
    return reply;
  },

  async DeleteKeyPair(call, ctx) {
    const reply = await ctx.forward(call);
    if (reply.status !== 200) return reply;
    const { keyDigests, keyIds } = state(ctx);
    const name =
      call.input.KeyName !== undefined
        ? String(call.input.KeyName)
        : keyIds.get(`${call.region}:${String(call.input.KeyPairId)}`);
    if (name !== undefined) keyDigests.delete(`${call.region}:${name}`);
    return reply;
  },
};
