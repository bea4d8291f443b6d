import { parsePolicyDocument, samePolicy } from '../../../functions/shared/iam-roles.js';

const doc = {
  Version: '2012-10-17',
  Statement: [{ Effect: 'Allow', Principal: { Service: 'ec2.amazonaws.com' }, Action: 'sts:AssumeRole' }],
};

describe('parsePolicyDocument', () => {
  it('decodes the URL-encoded document GetRole returns, and accepts plain JSON', () => {
    expect(parsePolicyDocument(encodeURIComponent(JSON.stringify(doc)))).toEqual(doc);
    expect(parsePolicyDocument(JSON.stringify(doc))).toEqual(doc);
  });
});

describe('samePolicy', () => {
  it('treats IAM-equivalent spellings as equal', () => {
    const spelledDifferently = {
      Statement: {
        Sid: 'label',
        Action: ['sts:AssumeRole'],
        Principal: { Service: ['ec2.amazonaws.com'] },
        Effect: 'Allow',
      },
      Version: '2012-10-17',
    };
    expect(samePolicy(doc, spelledDifferently)).toBe(true);
  });

  it('sees a different principal, action, effect or condition', () => {
    const statement = doc.Statement[0]!;
    expect(
      samePolicy(doc, { ...doc, Statement: [{ ...statement, Principal: { Service: 'ssm.amazonaws.com' } }] }),
    ).toBe(false);
    expect(samePolicy(doc, { ...doc, Statement: [{ ...statement, Effect: 'Deny' }] })).toBe(false);
    expect(
      samePolicy(doc, {
        ...doc,
        Statement: [{ ...statement, Action: ['sts:AssumeRole', 'sts:TagSession'] }],
      }),
    ).toBe(false);
    expect(
      samePolicy(doc, {
        ...doc,
        Statement: [{ ...statement, Condition: { StringEquals: { 'aws:SourceAccount': '1' } } }],
      }),
    ).toBe(false);
    expect(samePolicy(doc, undefined)).toBe(false);
  });
});
