"""Finding log files under the given paths and opening them as byte streams (decompressing)."""

import gzip
import os
import re
import shutil
import subprocess
import zlib

from .errors import InputError

# Names searched for inside directories: *.log, *.stdout, rotated *.log.N, each optionally .gz/.zst.
LOG_NAME = re.compile(r"^.+\.(?:log|stdout)(?:\.(\d+))?(?:\.(?:gz|zst))?$")
LOG_PATTERNS = "*.log, *.stdout, *.log.N, each optionally .gz or .zst"

GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


class LogFile:
    """One input file: its path, the root it was found under (for manifest lookup) and its order key."""

    __slots__ = ("path", "root")

    def __init__(self, path, root):
        self.path = path
        self.root = root

    def order_key(self):
        # Rotated files oldest first: x.log.2, x.log.1, x.log (a process's log is in time order).
        directory, name = os.path.split(self.path)
        match = LOG_NAME.match(name)
        rotation = int(match.group(1)) if match and match.group(1) else 0
        stem = re.sub(r"(?:\.\d+)?(?:\.(?:gz|zst))?$", "", name)
        return (directory, stem, -rotation, name)


def discover(paths, samplers=()):
    """The log files under `paths` (files taken as given, directories searched recursively), and
    there the files of `samplers` (families of whole files) with a FILE_NAME that they sniff().

    Raises InputError for a missing path or a directory holding no log file.
    """
    named = [sampler for sampler in samplers if hasattr(sampler, "FILE_NAME")]
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    if not paths:
        raise InputError("no input path given: name log files or directories to analyse")
    found = {}
    for given in paths:
        given = os.fspath(given)
        if os.path.isdir(given):
            before = len(found)
            for directory, subdirs, names in os.walk(given, onerror=_raise_walk_error):
                subdirs.sort()
                for name in names:
                    path = os.path.join(directory, name)
                    if LOG_NAME.match(name) or any(sampler.FILE_NAME.match(name) and sampler.sniff(path) for sampler in named):
                        found.setdefault(os.path.realpath(path), LogFile(path, given))
            if len(found) == before:
                raise InputError(f"{given}: no log files found ({LOG_PATTERNS})")
        elif os.path.exists(given):
            # A file named explicitly is read whatever its name; its run dir may be one level up.
            found.setdefault(os.path.realpath(given), LogFile(given, os.path.dirname(os.path.dirname(os.path.abspath(given)))))
        else:
            raise InputError(f"{given}: no such file or directory")
    return sorted(found.values(), key=LogFile.order_key)


def _raise_walk_error(error):
    raise InputError(f"{error.filename}: cannot list directory: {error.strerror}")


def compressed(raw):
    """Whether an open binary file holds gzip or zstd data (by its magic bytes)."""
    magic = raw.peek(4)[:4]
    return magic.startswith(GZIP_MAGIC) or magic == ZSTD_MAGIC


def read_chunks(path, size, offset=0):
    """The file's decompressed bytes from `offset` on, in chunks of up to `size` (gzip and zstd
    recognised by magic; a compressed file is read from its start whatever the offset).

    Raises InputError naming the path when the file cannot be opened, read or decompressed.
    """
    try:
        with open(path, "rb") as raw:
            magic = raw.peek(4)[:4]
            if magic.startswith(GZIP_MAGIC):
                stream = gzip.GzipFile(fileobj=raw, mode="rb")
            elif magic == ZSTD_MAGIC:
                stream = _open_zstd(path, raw)
            else:
                raw.seek(offset)
                stream = raw
            with stream:
                while chunk := stream.read(size):
                    yield chunk
    except InputError:
        raise
    except gzip.BadGzipFile as error:
        raise InputError(f"{path}: cannot decompress (not valid gzip): {error}") from None
    except OSError as error:
        raise InputError(f"{path}: cannot read: {error.strerror or error}") from None
    except (EOFError, zlib.error) as error:
        raise InputError(f"{path}: cannot decompress (truncated or corrupt): {error}") from None
    except Exception as error:
        # zstandard.ZstdError: not importable as a name when the module is absent
        if type(error).__name__ == "ZstdError":
            raise InputError(f"{path}: cannot decompress (truncated or corrupt): {error}") from None
        raise


def _open_zstd(path, raw):
    try:
        import zstandard  # optional: the engine is standard library only, the `zstd` tool is the fallback
    except ImportError:
        zstandard = None
    if zstandard is not None:
        return zstandard.ZstdDecompressor().stream_reader(raw, read_across_frames=True, closefd=False)
    tool = shutil.which("zstd")
    if tool is None:
        raise InputError(f"{path}: zstd-compressed and no zstd decoder here: install the zstd package (apt-get install zstd)")
    return _ZstdProcess(path, tool)


class _ZstdProcess:
    """Reads `zstd -dc FILE` output; reports the tool's error as an InputError at end of stream."""

    def __init__(self, path, tool):
        self.path = path
        self.process = subprocess.Popen(
            [tool, "-dcq", "--", path], stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL
        )

    def read(self, size):
        data = self.process.stdout.read(size)
        if not data:
            status = self.process.wait()
            if status != 0:
                message = self.process.stderr.read().decode("utf-8", "replace").strip().splitlines()
                raise InputError(f"{self.path}: cannot decompress: {message[-1] if message else f'zstd exit status {status}'}")
        return data

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        self.process.stdout.close()
        self.process.stderr.close()
