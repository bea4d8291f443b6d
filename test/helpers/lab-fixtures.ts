import type { ActivationRef, LabInstance } from '../../functions/shared/lab-state.js';

/** The instances launch-instances reports for lab `demo`, as the state machine hands them on. */
export const INSTANCES: LabInstance[] = [
  {
    role: 'ProdEC2Instance',
    kind: 'ec2',
    environment: 'Prod',
    instanceId: 'i-0a00000000000000a',
    privateIpAddress: '172.31.1.10',
  },
  {
    role: 'DevEC2Instance',
    kind: 'ec2',
    environment: 'Dev',
    instanceId: 'i-0b00000000000000b',
    privateIpAddress: '172.31.1.11',
  },
  {
    role: 'ProdOnPrem',
    kind: 'onprem',
    environment: 'Prod',
    instanceId: 'i-0c00000000000000c',
    privateIpAddress: '172.31.1.12',
  },
  {
    role: 'DevOnPrem',
    kind: 'onprem',
    environment: 'Dev',
    instanceId: 'i-0d00000000000000d',
    privateIpAddress: '172.31.1.13',
  },
  {
    role: 'Bootstrap',
    kind: 'bootstrap',
    environment: 'Bootstrap',
    instanceId: 'i-0e00000000000000e',
    privateIpAddress: '172.31.1.14',
  },
];

export const BOOTSTRAP_ID = 'i-0e00000000000000e';

/** The activations create-activations reports for lab `demo`. */
export const ACTIVATIONS: ActivationRef[] = [
  {
    environment: 'Dev',
    hostRole: 'DevOnPrem',
    activationId: '11111111-1111-4111-8111-111111111111',
    codeParameter: '/session-lab/demo/activation/Dev/code',
  },
  {
    environment: 'Prod',
    hostRole: 'ProdOnPrem',
    activationId: '22222222-2222-4222-8222-222222222222',
    codeParameter: '/session-lab/demo/activation/Prod/code',
  },
];
