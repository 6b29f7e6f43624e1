import { MemoryStore } from '../../src/store/index.ts';
import { describeStoreContract } from './contract.ts';

describeStoreContract('memory', { open: async () => new MemoryStore() });
