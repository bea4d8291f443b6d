import { AwsError, type AwsCall } from '../protocol.js';

/**
 * The errors AWS answers when it refuses a request, in each protocol's code and wording: what an
 * SDK client sees (`err.name` is the code) is what it would see from AWS.
 */

type Protocol = Pick<AwsCall, 'protocol' | 'service'>;

/** Why the evaluation refused: no Allow, or an explicit Deny in one kind of policy. */
export type DenialReason =
  'implicit' | 'identity-deny' | 'resource-deny' | 'boundary' | 'no-resource-allow' | 'unmodelled';

function because(action: string, reason: DenialReason): string {
  switch (reason) {
    case 'identity-deny':
      return 'with an explicit deny in an identity-based policy';
    case 'resource-deny':
      return 'with an explicit deny in a resource-based policy';
    case 'boundary':
      return `because no permissions boundary allows the ${action} action`;
    case 'no-resource-allow':
      return `because no resource-based policy allows the ${action} action`;
    default:
      return `because no identity-based policy allows the ${action} action`;
  }
}

/** `User: <arn> is not authorized to perform: <action> on resource: <resource> because ...`. */
export function denialMessage(principalArn: string, action: string, resource: string, reason: DenialReason) {
  return `User: ${principalArn} is not authorized to perform: ${action} on resource: ${resource} ${because(action, reason)}`;
}

/** A refusal saying `message`, as the call's protocol words it (see `accessDenied`). */
function refusal(call: Protocol, message: string): AwsError {
  if (call.service === 'ec2')
    return new AwsError(
      'UnauthorizedOperation',
      `You are not authorized to perform this operation. ${message}`,
      403,
    );
  if (call.protocol === 'json') return new AwsError('AccessDeniedException', message, 400);
  return new AwsError('AccessDenied', message, 403);
}

/**
 * The refusal of `action` on `resource`: JSON services answer AccessDeniedException (400), IAM and
 * STS AccessDenied (403), EC2 UnauthorizedOperation (403) with its own preamble.
 */
export function accessDenied(
  call: Protocol,
  principalArn: string,
  action: string,
  resource: string,
  reason: DenialReason,
): AwsError {
  const message = denialMessage(principalArn, action, resource, reason);
  return refusal(call, message);
}

/** An operation the emulator cannot authorize: refused for every caller but the admin. */
export function unmodelled(call: Protocol & { operation: string }, principalArn: string, action: string) {
  const message =
    `User: ${principalArn} is not authorized to perform: ${action}: the session-lab emulator has no ` +
    `authorization model for ${action} (local/emulator/authorization/operations/), so only the ` +
    `operator's own credentials may call it`;
  return refusal(call, message);
}

/** A key the emulator or IAM never issued as such, or a session token that does not match. */
export function invalidToken(call: Protocol): AwsError {
  if (call.service === 'ec2')
    return new AwsError('AuthFailure', 'AWS was not able to validate the provided access credentials', 401);
  if (call.protocol === 'json')
    return new AwsError(
      'UnrecognizedClientException',
      'The security token included in the request is invalid.',
      400,
    );
  return new AwsError('InvalidClientTokenId', 'The security token included in the request is invalid.', 403);
}

/** Temporary credentials past their expiration. */
export function expiredToken(call: Protocol): AwsError {
  if (call.protocol === 'json')
    return new AwsError(
      'ExpiredTokenException',
      'The security token included in the request is expired',
      400,
    );
  return new AwsError('ExpiredToken', 'The security token included in the request is expired', 400);
}
