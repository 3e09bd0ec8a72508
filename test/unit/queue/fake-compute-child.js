// A stand-in compute child for child-pool.test.ts: speaks the protocol of src/queue/child-protocol.ts without
// loading TF.js. FAKE_START (env) picks how it starts; each job's `method.name` picks what the job does.
process.on('disconnect', () => process.exit(0));

const send = (m) => process.connected && process.send(m);
const busy = () => {
  for (;;) {
    // an uninterruptible unit of work
  }
};
const jobs = new Map();

process.on('message', (m) => {
  if (m.type === 'abort') return jobs.get(m.jobId)?.();
  const { jobId } = m;
  const outcome = { method: m.data.method.name, numParams: 1, backend: 'fake', summary: {}, artifacts: [] };
  switch (m.data.method.name) {
    case 'ok':
      send({ type: 'progress', jobId, completed: 1, total: 2 });
      send({ type: 'progress', jobId, completed: 2, total: 2 });
      return send({ type: 'result', jobId, outcome });
    case 'fail-input':
      return send({ type: 'error', jobId, code: 'invalid_method', message: 'bad method', retry: false });
    case 'fail-transient':
      return send({ type: 'error', jobId, code: 'internal', message: 'flaky', retry: true });
    case 'slow': {
      // Cooperative: works in small units and stops at the next one once aborted.
      const timer = setInterval(() => send({ type: 'progress', jobId, completed: 0, total: 1 }), 10);
      jobs.set(jobId, () => {
        clearInterval(timer);
        send({ type: 'error', jobId, code: 'cancelled', message: 'cancelled by request', retry: false });
      });
      return;
    }
    case 'stuck':
      return busy();
    case 'crash':
      return process.exit(3);
    case 'result-then-exit':
      return process.send({ type: 'result', jobId, outcome }, () => process.exit(0));
  }
});

if (process.env.FAKE_START === 'crash') process.exit(4);
else if (process.env.FAKE_START !== 'never') send({ type: 'ready', backend: 'fake' });
