import { DescribeDocumentCommand, SSMClient } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import type { EmulatorContext } from '../../../local/emulator/context.js';
import { RawReply, type AwsCall } from '../../../local/emulator/protocol.js';
import { services } from '../../../local/emulator/services/index.js';
import { awsError } from '../../helpers/aws-mock.js';

/** The emulator's GetDocument on its own: what it forwards to moto for each DocumentVersion. */

const moto = mockClient(SSMClient);
const forwarded: unknown[] = [];
const ctx = {
  moto: () => new SSMClient({ region: 'us-east-1' }),
  forward: async (call: AwsCall) => {
    forwarded.push(JSON.parse(call.raw.body.toString('utf8')));
    return new RawReply(200, {}, '{}');
  },
} as unknown as EmulatorContext;

const getDocument = (input: Record<string, unknown>): AwsCall => ({
  service: 'ssm',
  operation: 'GetDocument',
  region: 'us-east-1',
  protocol: 'json',
  input,
  raw: { method: 'POST', url: '/', headers: {}, body: Buffer.from(JSON.stringify(input)) },
});

beforeEach(() => {
  moto.reset();
  forwarded.length = 0;
  moto
    .on(DescribeDocumentCommand)
    .resolves({ Document: { Name: 'Doc', DefaultVersion: '3', LatestVersion: '5' } });
});

describe('emulator GetDocument', () => {
  const handler = services.ssm!.GetDocument!;

  it('sends moto the version numbers that $DEFAULT and $LATEST name (moto refuses $DEFAULT)', async () => {
    await handler(getDocument({ Name: 'Doc', DocumentVersion: '$DEFAULT', DocumentFormat: 'JSON' }), ctx);
    await handler(getDocument({ Name: 'Doc', DocumentVersion: '$LATEST' }), ctx);
    expect(forwarded).toEqual([
      { Name: 'Doc', DocumentVersion: '3', DocumentFormat: 'JSON' },
      { Name: 'Doc', DocumentVersion: '5' },
    ]);
  });

  it('forwards a numbered or absent version, and an unknown document, as they came', async () => {
    await handler(getDocument({ Name: 'Doc', DocumentVersion: '2' }), ctx);
    await handler(getDocument({ Name: 'Doc' }), ctx);
    moto.on(DescribeDocumentCommand).rejects(awsError('InvalidDocument'));
    await handler(getDocument({ Name: 'Gone', DocumentVersion: '$DEFAULT' }), ctx);
    expect(forwarded).toEqual([
      { Name: 'Doc', DocumentVersion: '2' },
      { Name: 'Doc' },
      { Name: 'Gone', DocumentVersion: '$DEFAULT' },
    ]);
  });
});
