import { EntityAlreadyExistsException } from '@aws-sdk/client-iam';
import {
  IamNotPropagatedYet,
  InvalidLabInput,
  LabStepFailed,
  NotReadyYet,
  RETRYABLE_ERRORS,
  ignoreErrors,
  isErrorNamed,
} from '../../../functions/shared/errors.js';

describe('typed errors', () => {
  it('carry the class name as `name`, which Step Functions matches in Retry/Catch', () => {
    expect(new NotReadyYet('x').name).toBe('NotReadyYet');
    expect(new IamNotPropagatedYet('x').name).toBe('IamNotPropagatedYet');
    expect(new LabStepFailed('x').name).toBe('LabStepFailed');
    expect(RETRYABLE_ERRORS).toEqual(['NotReadyYet', 'IamNotPropagatedYet', 'Throttled']);
  });

  it('InvalidLabInput names the field in its message', () => {
    const err = new InvalidLabInput('labId', 'too short');
    expect(err.field).toBe('labId');
    expect(err.message).toBe('labId: too short');
    expect(err.name).toBe('InvalidLabInput');
  });
});

describe('isErrorNamed', () => {
  it('matches modelled SDK exceptions by shape name', () => {
    const err = new EntityAlreadyExistsException({ message: 'exists', $metadata: {} });
    expect(isErrorNamed(err, 'EntityAlreadyExistsException')).toBe(true);
    expect(isErrorNamed(err, 'NoSuchEntityException')).toBe(false);
  });

  it('matches unmodelled EC2 codes, which the SDK puts in name', () => {
    const err = Object.assign(new Error('dup'), { name: 'InvalidKeyPair.Duplicate' });
    expect(isErrorNamed(err, 'InvalidKeyPair.NotFound', 'InvalidKeyPair.Duplicate')).toBe(true);
  });

  it('is false for non-errors', () => {
    expect(isErrorNamed({ name: 'NoSuchEntityException' }, 'NoSuchEntityException')).toBe(false);
  });
});

describe('ignoreErrors', () => {
  it('turns a named error into undefined', async () => {
    const gone = Object.assign(new Error('gone'), { name: 'NoSuchEntityException' });
    await expect(ignoreErrors(() => Promise.reject(gone), 'NoSuchEntityException')).resolves.toBeUndefined();
  });

  it('returns the value on success and rethrows every other error', async () => {
    await expect(ignoreErrors(() => Promise.resolve(3), 'X')).resolves.toBe(3);
    await expect(ignoreErrors(() => Promise.reject(new Error('boom')), 'X')).rejects.toThrow('boom');
  });
});
