/**
 * Docker runtime, HOSTILE.md section F: each context is a container of its own, so one context
 * cannot see another's files, processes or variables, nor the service's secrets, the engine, a
 * network, or any privilege. The shared suite (test/shared/isolation.suite.ts) runs the same
 * attacks as on the process runtime, where some are known limits; here none is, and the cases
 * below check what only a container has.
 */
import { expect, it } from 'vitest'
import { API_KEY, describeIsolation, SERVICE_SECRET } from '../shared/isolation.suite.js'
import {
  containerIdOf,
  containersOf,
  type DockerSandbox,
  docker,
  dockerRuntime,
  exec,
  GVISOR,
  OCI_RUNTIME,
} from './helpers.js'

describeIsolation(dockerRuntime, {
  specific: (fixture) => {
    it('runs each context in a container of its own', async () => {
      const { s, a, b } = fixture()
      const [ca, cb] = await Promise.all([containerIdOf(s, a), containerIdOf(s, b)])
      expect(ca).not.toBe(cb)
      expect(await containersOf((s as DockerSandbox).scope)).toEqual(
        expect.arrayContaining([ca, cb]),
      )
    })

    it("F2/F12: a context sees only its own processes (own PID namespace), never another's kernel", async () => {
      const { s, b } = fixture()
      const result = await exec(
        s,
        b,
        'import os\npids = [int(p) for p in os.listdir("/proc") if p.isdigit()]\nprint(len(pids), max(pids))\nfor p in pids:\n    cmd = open(f"/proc/{p}/cmdline","rb").read().replace(b"\\0", b" ")\n    print(p, cmd[:80])',
      )
      const lines: string[] = result.output.stdout.trim().split('\n')
      // Under gVisor each of the service's connections to this container's Jupyter is a `docker
      // exec` relay process here (relay.ts), as many as connections are open: not counted.
      const own = lines.slice(1).filter((line) => !line.includes('One connection of the service'))
      // tini, Jupyter Server, this kernel (and maybe a helper thread's process): nothing of A's.
      expect(own.length).toBeLessThanOrEqual(4)
      expect(result.output.stdout).not.toContain('secret')
    })

    it("F3/F4: the other context's Jupyter is unreachable: no TCP at all, its socket not mounted here", async () => {
      const { s, b } = fixture()
      const result = await exec(
        s,
        b,
        [
          'import glob, os, socket',
          'print(sorted(glob.glob("/run/sci/*")))',
          'print(len(glob.glob(os.path.expanduser("~/.sci-jupyter/runtime/kernel-*.json"))))',
          'try:',
          '    socket.create_connection(("127.0.0.1", 8888), 2)',
          '    print("connected")',
          'except OSError as e:',
          '    print("refused", type(e).__name__)',
        ].join('\n'),
      )
      const [sockets, kernels, tcp] = result.output.stdout.trim().split('\n')
      // Only its own socket (the token file was read and deleted at start).
      expect(sockets).toBe("['/run/sci/jupyter.sock']")
      expect(kernels).toBe('1')
      expect(tcp).toMatch(/^refused/)
    })

    it('F5: the container’s first process holds no secret of the service either', async () => {
      const { s, b } = fixture()
      const result = await exec(
        s,
        b,
        'import os\nprint(sorted(os.environ))\nprint(open("/proc/1/environ","rb").read())',
      )
      const out: string = result.output.stdout
      const [kernelEnv] = out.split('\n')
      expect(out).not.toContain(SERVICE_SECRET)
      expect(out).not.toContain(API_KEY)
      // The container's first process has only the image's and the runtime's settings; the Jupyter
      // token was never in any environment.
      expect(out).not.toMatch(/SCI_TEST|TOKEN/)
      // (SCI_KERNEL_*: the kernel's own settings; an image older than its launcher keeps them.)
      expect(kernelEnv).not.toMatch(/SANDBOX_|SCI_(?!KERNEL_)/)
    })

    it('F6: the Docker socket is not there, and the engine not reachable over TCP', async () => {
      const { s, b } = fixture()
      const result = await exec(
        s,
        b,
        [
          'import os, socket',
          'print(os.path.exists("/var/run/docker.sock"), os.path.exists("/run/docker.sock"))',
          'try:',
          '    socket.create_connection(("172.17.0.1", 2375), 2)',
          '    print("connected")',
          'except OSError as e:',
          '    print("blocked")',
        ].join('\n'),
      )
      expect(result.output.stdout.trim().split('\n')).toEqual(['False False', 'blocked'])
    })

    it('F9: non-root, no capabilities, no privilege gain, no setuid programs; seccomp (runc) or gVisor (runsc)', async () => {
      const { s, b } = fixture()
      const result = await exec(
        s,
        b,
        [
          'import os, subprocess',
          'status = dict(l.split(":\\t", 1) for l in open("/proc/self/status").read().splitlines() if ":\\t" in l)',
          'print(os.getuid(), status["CapEff"].strip(), status.get("NoNewPrivs", "-").strip(), status["Seccomp"].strip())',
          'r = subprocess.run("find / -xdev -perm /6000 -type f 2>/dev/null | head -3", shell=True, capture_output=True, text=True)',
          'print(repr(r.stdout))',
          'r = subprocess.run(["unshare", "-r", "true"], capture_output=True)',
          'print(r.returncode != 0)',
          'print("gVisor" in subprocess.run(["dmesg"], capture_output=True, text=True).stdout)',
        ].join('\n'),
        // Under gVisor the walk of the image's 91,000 files alone takes 20-40 s here.
        100,
      )
      const [ids, setuid, unshare, gvisorKernel] = result.output.stdout.trim().split('\n')
      expect(setuid).toBe("''")
      const inspect = await docker(
        'inspect',
        '-f',
        '{{.HostConfig.Runtime}} {{.HostConfig.SecurityOpt}}',
        await containerIdOf(s, b),
      )
      expect(inspect).toBe(`${OCI_RUNTIME} [no-new-privileges]`)
      if (GVISOR) {
        // gVisor's own kernel answers: its /proc shows no NoNewPrivs and no seccomp filter (the
        // sandbox's kernel is itself filtered on the host), and user namespaces are its own, so
        // `unshare -r` succeeds without reaching the host kernel.
        expect(ids).toBe('10001 0000000000000000 - 0')
        expect(gvisorKernel).toBe('True')
        expect(unshare).toBe('False')
      } else {
        expect(ids).toBe('10001 0000000000000000 1 2')
        expect(gvisorKernel).toBe('False')
        expect(unshare).toBe('True')
      }
    })

    it('F10: the root file system is read-only; only /workspace and /tmp are writable', async () => {
      const { s, b } = fixture()
      const result = await exec(
        s,
        b,
        [
          'print([l.split()[3].split(",")[0] for l in open("/proc/mounts") if l.split()[1] == "/"])',
          'for p in ["/usr/lib/python3/dist-packages/evil.py", "/app/evil.js", "/etc/evil"]:',
          '    try:',
          '        open(p, "w")',
          '        print("wrote", p)',
          '    except OSError as e:',
          '        print(e.errno)',
          'open("/workspace/ok.txt", "w").write("ok")',
          'open("/tmp/ok.txt", "w").write("ok")',
        ].join('\n'),
      )
      expect(result.success).toBe(true)
      // runc: EROFS (30); gVisor checks permissions first: EACCES (13), the mount being read-only.
      const errno = GVISOR ? '13' : '30'
      expect(result.output.stdout.trim().split('\n')).toEqual(["['ro']", errno, errno, errno])
    })
  },
})
