# Summarizes a dotnet-trace speedscope file (dotnet-sampled-thread-time profile, written by
# Program.cs --trace DIR): time per frame, inclusive, over samples not parked in an idle wait.
# Thread time, not CPU time: native/kernel time (syscalls) shows as UNMANAGED_CODE_TIME.
#   python3 trace-summary.py DIR/ours-single-client.speedscope.json [TOP]
import json, sys, collections
d = json.load(open(sys.argv[1]))
frames = [f['name'] for f in d['shared']['frames']]
top = int(sys.argv[2]) if len(sys.argv) > 2 else 40
IDLE = ['LowLevelLifoSemaphore.Wait', 'WaitHandle.WaitOneNoCheck', 'Monitor.Wait', 'TimerQueue.TimerThread', 'GateThreadStart', 'ManualResetEventSlim.Wait']
incl = collections.Counter(); incl_cpu = collections.Counter(); active = 0; active_cpu = 0
for p in d['profiles']:
    stack = []; last = None
    for e in p['events']:
        at = e['at']
        if stack and last is not None:
            dt = at - last
            names = [frames[f] for f in stack]
            leaf = names[-1]
            is_idle = any(any(k in n for k in IDLE) for n in names) or (leaf == 'UNMANAGED_CODE_TIME' and any('SocketAsyncEngine.EventLoop' in n for n in names) and len(names) <= 8)
            if not is_idle:
                active += dt
                if leaf == 'CPU_TIME': active_cpu += dt
                for n in set(names):
                    incl[n] += dt
                    if leaf == 'CPU_TIME': incl_cpu[n] += dt
        last = at
        if e['type'] == 'O': stack.append(e['frame'])
        elif stack: stack.pop()
print(f'active thread time {active:.0f} ms (managed CPU {active_cpu:.0f} ms, rest in native/kernel incl. syscalls)')
for k, v in incl.most_common(top):
    if any(s in k for s in ['Process64', 'Non-Activities', 'Threads', 'Thread (', 'StartCallback', 'WorkerThreadStart']): continue
    print(f'{v:7.0f} ({incl_cpu[k]:6.0f} managed)  {k[:160]}')
