import { DescribeSessionsCommand, SSMClient, TerminateSessionCommand } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { isSessionOf, terminateSessions } from '../../../functions/terminate-sessions/task.js';
import { ACCOUNT, awsError, inputsOf, testClients } from '../../helpers/aws-mock.js';

const ssm = mockClient(SSMClient);
const arn = (user: string) => `arn:aws:iam::${ACCOUNT}:user/${user}`;

/** Active sessions, two per page, ended by TerminateSession. */
function fakeSessions(sessions: { SessionId: string; Owner?: string; Target: string }[]) {
  const active = [...sessions];
  ssm.on(DescribeSessionsCommand).callsFake(({ State, NextToken }) => {
    expect(State).toBe('Active');
    const start = Number(NextToken ?? 0);
    const page = active.slice(start, start + 2).map((s) => ({ ...s, Status: 'Connected' }));
    return { Sessions: page, NextToken: start + 2 < active.length ? String(start + 2) : undefined };
  });
  ssm.on(TerminateSessionCommand).callsFake(({ SessionId }) => {
    const i = active.findIndex((s) => s.SessionId === SessionId);
    if (i >= 0) active.splice(i, 1);
    return { SessionId };
  });
  return active;
}

beforeEach(() => ssm.reset());

describe('isSessionOf', () => {
  it.each([
    [{ Owner: arn('MyWorkshopUser-demo'), SessionId: 'x' }, true],
    [{ SessionId: 'MyWorkshopUser-demo-0a1b2c3d4e5f' }, true],
    [{ SessionId: 'MyWorkshopUser-demo-2-0a1b2c3d4e5f' }, false],
    [{ Owner: arn('MyWorkshopUser-demo-2'), SessionId: 'MyWorkshopUser-demo-2-0a1b' }, false],
    [{ Owner: arn('instructor'), SessionId: 'instructor-0a1b2c' }, false],
    [{}, false],
  ])('%j -> %s', (session, expected) => {
    expect(isSessionOf(session, 'MyWorkshopUser-demo')).toBe(expected);
  });
});

describe('terminateSessions', () => {
  it('ends only the lab user\u2019s active sessions, across pages', async () => {
    const active = fakeSessions([
      { SessionId: 'instructor-0aaa', Owner: arn('instructor'), Target: 'i-0aaaaaaaaaaaaaaa1' },
      {
        SessionId: 'MyWorkshopUser-demo-0bbb',
        Owner: arn('MyWorkshopUser-demo'),
        Target: 'i-0aaaaaaaaaaaaaaa1',
      },
      {
        SessionId: 'MyWorkshopUser-demo-2-0ccc',
        Owner: arn('MyWorkshopUser-demo-2'),
        Target: 'mi-0aaaaaaaaaaaaaaa1',
      },
      { SessionId: 'MyWorkshopUser-demo-0ddd', Target: 'mi-0aaaaaaaaaaaaaaa2' },
    ]);
    await expect(terminateSessions({ labId: 'demo' }, testClients())).resolves.toEqual({
      terminated: ['MyWorkshopUser-demo-0bbb', 'MyWorkshopUser-demo-0ddd'],
    });
    expect(active.map((s) => s.SessionId)).toEqual(['instructor-0aaa', 'MyWorkshopUser-demo-2-0ccc']);
  });

  it('is a no-op the second time', async () => {
    fakeSessions([
      { SessionId: 'MyWorkshopUser-demo-0bbb', Owner: arn('MyWorkshopUser-demo'), Target: 'i-0a' },
    ]);
    await terminateSessions({ labId: 'demo' }, testClients());
    await expect(terminateSessions({ labId: 'demo' }, testClients())).resolves.toEqual({ terminated: [] });
    expect(inputsOf(ssm, TerminateSessionCommand)).toHaveLength(1);
  });

  it('does nothing when no session is active (user already gone)', async () => {
    fakeSessions([]);
    await expect(terminateSessions({ labId: 'demo' }, testClients())).resolves.toEqual({ terminated: [] });
  });

  it('propagates throttling', async () => {
    ssm.on(DescribeSessionsCommand).rejects(awsError('ThrottlingException'));
    await expect(terminateSessions({ labId: 'demo' }, testClients())).rejects.toMatchObject({
      name: 'ThrottlingException',
    });
  });
});
