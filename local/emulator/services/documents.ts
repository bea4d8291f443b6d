import { DescribeDocumentCommand, SSMClient } from '@aws-sdk/client-ssm';
import type { EmulatorContext, OperationHandler } from '../context.js';
import type { AwsCall } from '../protocol.js';

/**
 * SSM documents stay moto's; this only closes a gap in what moto accepts. AWS takes the version
 * keywords `$DEFAULT` and `$LATEST` wherever a DocumentVersion is read (GetDocument,
 * DescribeDocument); moto answers `$DEFAULT` with InvalidDocument as if the document did not
 * exist. The keyword is resolved to the document's version number with DescribeDocument on moto,
 * then the request goes to moto with that number. A document moto does not know is forwarded as
 * it came, so moto's own InvalidDocument answers it.
 */

const KEYWORDS: Record<string, 'DefaultVersion' | 'LatestVersion'> = {
  $DEFAULT: 'DefaultVersion',
  $LATEST: 'LatestVersion',
};

async function resolvedVersion(call: AwsCall, ctx: EmulatorContext): Promise<string | undefined> {
  const field = KEYWORDS[String(call.input.DocumentVersion ?? '')];
  if (!field || typeof call.input.Name !== 'string') return undefined;
  try {
    const { Document } = await ctx
      .moto(SSMClient, call.region)
      .send(new DescribeDocumentCommand({ Name: call.input.Name }));
    return Document?.[field];
  } catch (err) {
    if ((err as Error).name === 'InvalidDocument') return undefined;
    throw err;
  }
}

/** Forwards the call to moto, with a version keyword replaced by the version it names. */
const withVersionResolved: OperationHandler = async (call, ctx) => {
  const version = await resolvedVersion(call, ctx);
  if (version === undefined) return ctx.forward(call);
  const body = Buffer.from(JSON.stringify({ ...call.input, DocumentVersion: version }));
  return ctx.forward({ ...call, raw: { ...call.raw, body } });
};

export const documents: Record<string, OperationHandler> = {
  GetDocument: withVersionResolved,
  DescribeDocument: withVersionResolved,
};
