// Entry file of the sandboxed processor. BullMQ forks a plain `node` child (without the parent's in-process tsx
// registration), so this JavaScript shim registers tsx before importing the TypeScript processor.
import { register } from 'tsx/esm/api';

register();

// If the worker process dies (SIGKILL, OOM), the IPC channel closes: stop rather than compute for nobody. The job
// is recovered as stalled by another worker and its results are keyed by job id, so a re-run is harmless.
process.on('disconnect', () => process.exit(0));

const { default: processHessianJob } = await import('./processor.ts');

export default processHessianJob;
