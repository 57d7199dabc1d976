# A FUSE filesystem that stops answering. Its root and the folders named on the command
# line are answered once (and cached by the kernel for a day); then a first request inside
# "plug/" (sent by hangfs.ts) takes the single worker thread forever. Every later request
# waits in the kernel's queue, never read: callers block like on a share whose server went
# away, yet stay killable. (A request already read by a server cannot be abandoned, and
# lookups in one folder queue on that folder's lock: so the plug has a folder of its own and
# is the only caller that cannot die before this process does.) Started by hangfs.ts.
import errno
import stat
import sys
import threading

from fusepy import FUSE, FuseOSError, Operations

forever = threading.Event()


folders = {"/", "/plug"} | {"/" + name for name in sys.argv[2:]}


class Hang(Operations):
    def getattr(self, path, fh=None):
        if path in folders:
            return dict(st_mode=stat.S_IFDIR | 0o755, st_nlink=2, st_uid=0, st_gid=0)
        forever.wait()
        raise FuseOSError(errno.EIO)

    def readdir(self, path, fh):
        forever.wait()
        return [".", ".."]


print("mounting", flush=True)
# default_permissions: the kernel checks access itself, from the cached root, without asking.
FUSE(Hang(), sys.argv[1], foreground=True, nothreads=True, default_permissions=True, attr_timeout=86400, entry_timeout=86400)
