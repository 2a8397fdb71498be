"""PostgreSQL's ``archive_command``: copy one finished WAL segment into the archive, durably.

``python .../expsvc/backup/archive.py <%p> <%f> <archive dir>``, run by the server for each
segment (so it imports the standard library only: it starts once per 16 MB of WAL, as the
server's user, who may not be able to run the service's own Python). A segment already
archived with the same bytes is success (PostgreSQL retries after a crash between our copy and
its bookkeeping); with other bytes it is an error, never an overwrite.
"""

from __future__ import annotations

import filecmp
import os
import shutil
import sys
from pathlib import Path


def archive(source: Path, name: str, directory: Path) -> None:
    target = directory / name
    if target.exists():
        if filecmp.cmp(source, target, shallow=False):
            return
        raise FileExistsError(f"{target} is archived already with other contents")
    directory.mkdir(parents=True, exist_ok=True)
    partial = directory / f".{name}.partial"
    shutil.copyfile(source, partial)
    with partial.open("rb") as written:
        os.fsync(written.fileno())
    os.replace(partial, target)
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)  # the rename itself
    finally:
        os.close(descriptor)


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        sys.stderr.write("usage: archive.py <%p> <%f> <archive dir>\n")
        return 2
    try:
        archive(Path(argv[0]), argv[1], Path(argv[2]))
    except OSError as error:
        sys.stderr.write(f"expsvc archive: {error}\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
