export { tearDown as default } from './moto-pool-setup.mjs';
