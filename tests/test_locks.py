"""The index folder's locks: a readers-writer lock for threads, an flock that dies with its process."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

from rag.index.locks import ReadWriteLock, file_lock


def test_readers_share_a_writer_excludes_and_a_reader_may_nest():
    lock = ReadWriteLock()
    events: list[str] = []

    def writer() -> None:
        with lock.writing():
            events.append("write")

    with lock.reading():
        with lock.reading():  # nested read by the same thread: no wait, even with a writer queued
            thread = threading.Thread(target=writer, daemon=True)
            thread.start()
            time.sleep(0.1)
            with lock.reading():
                events.append("nested read")
        assert events == ["nested read"]  # the writer still waits for the outer read
    thread.join(5)
    assert events == ["nested read", "write"]


def test_a_waiting_writer_holds_back_new_readers():
    lock = ReadWriteLock()
    order: list[str] = []

    def write() -> None:
        with lock.writing():
            order.append("write")

    def read() -> None:
        with lock.reading():
            order.append("read")

    first = threading.Thread(target=write, daemon=True)
    later = threading.Thread(target=read, daemon=True)
    with lock.reading():
        first.start()
        time.sleep(0.1)
        later.start()
        time.sleep(0.1)
        assert order == []
    first.join(5)
    later.join(5)
    assert order == ["write", "read"]  # the reader that came after the writer went after it


def test_file_lock_is_released_when_its_holder_dies(tmp_path):
    path = tmp_path / "x.lock"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import fcntl, time, sys\n"
            f"h = open({str(path)!r}, 'a+'); fcntl.flock(h, fcntl.LOCK_EX)\n"
            "print('held', flush=True); time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout.readline().strip() == "held"
    got = threading.Event()

    def take() -> None:
        with file_lock(path, "test"):
            got.set()

    thread = threading.Thread(target=take, daemon=True)
    thread.start()
    assert not got.wait(0.5)
    holder.kill()
    holder.wait()
    assert got.wait(5)
    assert "pid" in path.read_text()


def test_a_lock_in_a_folder_that_cannot_be_written_is_a_clear_error(tmp_path):
    import pytest

    from rag.errors import StoreError

    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(StoreError, match="must be writable"):
        with file_lock(blocker / "index" / "x.lock", "test"):
            pass
