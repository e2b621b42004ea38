"""A pumpside device over its USB serial, through mpremote's transport.

The host enters the device's raw REPL without a soft reset (mpremote's `resume`): that
interrupts the running firmware (^C), which shuts its valves and leaves the REPL. The
service calls (firmware/pumpside/service.py) print JSON lines; the last is the result.
`reset()` soft-resets the board (^D at the friendly REPL): the firmware boots again and
its console's `@boot` line says what it runs. The same code serves a USB board and the
virtual board (vboard.py, `pumpside vboard`), whose REPL is on a pty.
"""
import json
import time


class DeviceError(Exception):
    """Something the technician must act on: the message says what and what to do."""


class Device:
    def __init__(self, port, baudrate=115200):
        from mpremote.transport import TransportError
        from mpremote.transport_serial import SerialTransport

        self.port = port
        try:
            self.transport = SerialTransport(port, baudrate=baudrate)
        except TransportError as e:
            raise DeviceError("cannot open %s (%s): is the terminal plugged in and the port "
                              "right?" % (port, e)) from None
        try:
            self.transport.enter_raw_repl(soft_reset=False)
        except TransportError as e:
            self.transport.close()
            raise DeviceError("no MicroPython REPL on %s (%s): is it a pumpside terminal "
                              "with MicroPython flashed?" % (port, e)) from None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        if self.transport is not None:
            try:
                self.transport.exit_raw_repl()
            except OSError:
                pass
            self.transport.close()
            self.transport = None

    # -- code on the device ------------------------------------------------------------
    def exec(self, code, timeout=30):
        from mpremote.transport import TransportError

        try:
            out, err = self.transport.exec_raw(code, timeout=timeout)
        except TransportError as e:
            raise DeviceError("the device stopped answering (%s)" % e) from None
        if err:
            raise DeviceError("device error: %s" % err.decode("utf-8", "replace").strip()
                              .splitlines()[-1])
        return out.decode("utf-8", "replace")

    def lines(self, code, timeout=60):
        """The JSON lines `code` prints: (items before the last, the last)."""
        items = []
        for line in self.exec(code, timeout).splitlines():
            line = line.strip()
            if line.startswith("{"):
                items.append(json.loads(line))
        if not items:
            raise DeviceError("no answer from the device's service call")
        return items[:-1], items[-1]

    def service(self, call, timeout=60):
        """Call `pumpside.service.<call>` on the device (`board` is the board module, as
        main.py imports it); its result (a dict)."""
        _, result = self.lines("import board\nfrom pumpside import service\nservice." + call,
                               timeout)
        return result

    # -- files -------------------------------------------------------------------------
    def hashes(self, paths):
        """{path: sha256 hex or None when missing} on the device, in one round trip."""
        code = ("import hashlib,json\nb=bytearray(512)\nr={}\n"
                "for p in %r:\n"
                " try:\n"
                "  h=hashlib.sha256()\n"
                "  with open(p,'rb') as f:\n"
                "   while True:\n"
                "    n=f.readinto(b)\n"
                "    if not n: break\n"
                "    h.update(b if n==512 else b[:n])\n"
                "  r[p]=''.join('%%02x'%%x for x in h.digest())\n"
                " except OSError:\n"
                "  r[p]=None\n"
                "print(json.dumps(r))\n" % (list(paths),))
        return json.loads(self.exec(code, timeout=120).strip().splitlines()[-1])

    def files(self, top, deep=True):
        """The files in the device's folder `top` ("" = the root), as paths; with `deep`
        those of its subfolders too."""
        code = ("import os,json\nout=[]\n"
                "def walk(d):\n"
                " for e in os.ilistdir(d or '.'):\n"
                "  p=(d+'/'+e[0]) if d else e[0]\n"
                "  if e[1]!=0x4000: out.append(p)\n"
                "  elif %r: walk(p)\n"
                "try:\n walk(%r)\nexcept OSError:\n pass\n"
                "print(json.dumps(out))\n" % (deep, top))
        return json.loads(self.exec(code).strip().splitlines()[-1])

    def write(self, path, data):
        parent = path.rsplit("/", 1)[0] if "/" in path else ""
        if parent:
            self.exec("import os\np=''\nfor d in %r.split('/'):\n p=p+d if not p else p+'/'+d\n"
                      " try:\n  os.mkdir(p)\n except OSError:\n  pass\n" % parent)
        tmp = path + ".part"  # a cut mid-copy leaves the old file, never half a new one
        self.transport.fs_writefile(tmp, data, chunk_size=1024)
        self.exec("import os\nos.rename(%r,%r)" % (tmp, path))

    def read(self, path):
        return bytes(self.transport.fs_readfile(path, chunk_size=1024))

    def remove(self, path):
        self.exec("import os\nos.remove(%r)" % path)

    # -- reset -------------------------------------------------------------------------
    def reset(self, wait_boot=20.0):
        """Soft reset; the console lines up to the firmware's `@boot` (or `@closed`) event,
        parsed ({"event": name, ...fields}), or None when it said nothing in time."""
        transport, self.transport = self.transport, None
        transport.exit_raw_repl()
        transport.serial.write(b"\x04")  # ^D at the friendly REPL: soft reset, main.py runs
        found = None
        deadline = time.monotonic() + wait_boot
        pending = b""
        try:
            while time.monotonic() < deadline and found is None:
                if transport.serial.inWaiting():
                    pending += transport.serial.read(transport.serial.inWaiting())
                else:
                    time.sleep(0.05)
                *done, pending = pending.split(b"\n")
                for raw in done:
                    line = raw.decode("utf-8", "replace").strip()
                    for name in ("boot", "closed"):
                        if line.startswith("@" + name + " "):
                            try:
                                found = dict(json.loads(line[len(name) + 2:]), event=name)
                            except ValueError:
                                continue
        finally:
            transport.close()
        return found
