import {
  CreateDocumentCommand,
  DescribeDocumentCommand,
  GetDocumentCommand,
  SSMClient,
  UpdateDocumentCommand,
} from '@aws-sdk/client-ssm';
import { emulatorClientConfig, useEmulator } from '../../helpers/emulator.js';

const session = (description: string) =>
  JSON.stringify({ schemaVersion: '1.0', description, sessionType: 'Standard_Stream', inputs: {} });

describe('emulator: SSM document versions', () => {
  const emulator = useEmulator();
  const ssm = () => new SSMClient(emulatorClientConfig(emulator()));

  beforeAll(async () => {
    // Version 1 stays the default; version 2 is the latest.
    await ssm().send(
      new CreateDocumentCommand({
        Name: 'Versions-Doc',
        Content: session('one'),
        DocumentType: 'Session',
        DocumentFormat: 'JSON',
      }),
    );
    await ssm().send(
      new UpdateDocumentCommand({
        Name: 'Versions-Doc',
        Content: session('two'),
        DocumentVersion: '$LATEST',
        DocumentFormat: 'JSON',
      }),
    );
  });

  it.each([
    ['$DEFAULT', '1', 'one'],
    ['$LATEST', '2', 'two'],
    ['2', '2', 'two'],
    [undefined, '1', 'one'],
  ])('GetDocument with DocumentVersion %s answers version %s, as AWS does', async (asked, version, text) => {
    const doc = await ssm().send(new GetDocumentCommand({ Name: 'Versions-Doc', DocumentVersion: asked }));
    expect(doc.DocumentVersion).toBe(version);
    expect(JSON.parse(doc.Content!)).toMatchObject({ description: text });
  });

  it('DescribeDocument takes the keywords too', async () => {
    const { Document } = await ssm().send(
      new DescribeDocumentCommand({ Name: 'Versions-Doc', DocumentVersion: '$DEFAULT' }),
    );
    expect(Document).toMatchObject({ DocumentVersion: '1', DefaultVersion: '1', LatestVersion: '2' });
  });

  it('a document that does not exist is still InvalidDocument', async () => {
    await expect(
      ssm().send(new GetDocumentCommand({ Name: 'No-Such-Doc', DocumentVersion: '$DEFAULT' })),
    ).rejects.toMatchObject({ name: 'InvalidDocument' });
  });
});
