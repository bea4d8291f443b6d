import { describe, expect, it } from '@jest/globals';
import { resolve, UnresolvableIntrinsic, type ResolveScope } from '../../../local/deployment/intrinsics.js';

const scope: ResolveScope = {
  pseudo: { 'AWS::Region': 'eu-west-1', 'AWS::AccountId': '111122223333', 'AWS::Partition': 'aws' },
  ref: (id) => `ref-of-${id}`,
  getAtt: (id, attribute) => `${id}.${attribute}`,
};

describe('resolving the template’s intrinsic functions', () => {
  it('resolves Ref, Fn::GetAtt, Fn::Join, Fn::Select and Fn::Split, nested', () => {
    expect(
      resolve(
        {
          a: { Ref: 'AWS::Region' },
          b: { 'Fn::GetAtt': ['Table', 'Arn'] },
          c: { 'Fn::Join': [':', ['arn', { Ref: 'AWS::Partition' }, { Ref: 'Bus' }]] },
          d: { 'Fn::Select': [1, { 'Fn::Split': ['/', 'x/y/z'] }] },
          e: [{ Ref: 'Queue' }, 'plain', 3],
        },
        scope,
      ),
    ).toEqual({
      a: 'eu-west-1',
      b: 'Table.Arn',
      c: 'arn:aws:ref-of-Bus',
      d: 'y',
      e: ['ref-of-Queue', 'plain', 3],
    });
  });

  it('resolves Fn::Sub with pseudo parameters, attributes, its own variables and escapes', () => {
    expect(
      resolve(
        {
          'Fn::Sub': [
            'arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:${Name}/${Fn.Arn}/${!Literal}',
            { Name: { Ref: 'Thing' } },
          ],
        },
        scope,
      ),
    ).toBe('arn:aws:ssm:eu-west-1:111122223333:ref-of-Thing/Fn.Arn/${Literal}');
  });

  it('refuses what it cannot resolve instead of passing it on', () => {
    expect(() => resolve({ 'Fn::If': ['Cond', 'a', 'b'] }, scope)).toThrow(UnresolvableIntrinsic);
    expect(() => resolve({ Ref: 'AWS::NotAThing' }, scope)).toThrow(UnresolvableIntrinsic);
  });
});
