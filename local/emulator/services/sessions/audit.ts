import { authorizeRequests } from '../../authorization/evaluate.js';
import type { EmulatorContext } from '../../context.js';
import { AwsError, type AwsCall } from '../../protocol.js';
import type { Caller } from '../caller.js';
import { recordEvent, type TrailResource } from '../cloudtrail.js';
import type { ContextValues } from '../iam-simulation/policies.js';
import { MANAGED_ID, sessionArn, targetArn, type SessionRecord } from './records.js';

/** How the session operations are authorized (the caller's policies) and recorded (CloudTrail). */

/** A node's tags as both condition keys AWS documents for instance and managed-instance resources. */
export function tagContext(tags: Record<string, string>): ContextValues {
  const context: ContextValues = {};
  for (const [key, value] of Object.entries(tags)) {
    context[`ssm:resourceTag/${key}`] = value;
    context[`aws:ResourceTag/${key}`] = value;
  }
  return context;
}

/**
 * AWS's AccessDeniedException, worded as AWS words it for identity-policy decisions: the same
 * evaluation as every other call (authorization/evaluate.ts), with the node's tags given here.
 */
export async function authorize(
  ctx: EmulatorContext,
  caller: Caller,
  region: string,
  action: string,
  resource: string,
  context: ContextValues,
): Promise<void> {
  await authorizeRequests(ctx, { protocol: 'json', service: 'ssm', region }, caller, [
    { action, resource, context },
  ]);
}

export function trailResourceFor(ctx: EmulatorContext, region: string, target: string): TrailResource {
  return {
    ResourceType: MANAGED_ID.test(target) ? 'AWS::SSM::ManagedInstance' : 'AWS::EC2::Instance',
    ResourceName: target,
    arn: targetArn(ctx, region, target),
  };
}

export const sessionResource = (ctx: EmulatorContext, region: string, id: string): TrailResource => ({
  ResourceType: 'AWS::SSM::Session',
  ResourceName: id,
  arn: sessionArn(ctx, region, id),
});

/** Runs an operation and records it in CloudTrail whether it succeeds or fails, as AWS does. */
export async function audited<T extends Record<string, unknown>>(
  ctx: EmulatorContext,
  call: AwsCall,
  caller: Caller,
  details: {
    eventName: string;
    requestParameters: Record<string, unknown>;
    resources: () => TrailResource[];
  },
  run: () => Promise<{ reply: T; responseElements: Record<string, unknown> }>,
): Promise<T> {
  const record = (outcome: { responseElements: Record<string, unknown> } | { error: AwsError }) =>
    recordEvent(ctx, {
      call,
      caller,
      eventSource: 'ssm.amazonaws.com',
      ...details,
      resources: details.resources(),
      ...outcome,
    });
  try {
    const { reply, responseElements } = await run();
    record({ responseElements });
    return reply;
  } catch (err) {
    if (err instanceof AwsError) record({ error: err });
    throw err;
  }
}

/** The AWS-supplied session tags, which policies use to limit callers to their own sessions. */
export const sessionTagContext = (session: SessionRecord | undefined, id: string): ContextValues => ({
  'ssm:resourceTag/aws:ssmmessages:session-id': id,
  ...(session ? { 'ssm:resourceTag/aws:ssmmessages:target-id': session.target } : {}),
});
