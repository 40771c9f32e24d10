"""The writable end of a streamed upload: bytes handed from a writer to boto3's upload thread.

A writer (the PNG encoder, say) writes into :class:`UploadStream`; boto3's transfer manager reads
the other end, one part at a time, in a :class:`BackgroundUpload` thread. At most a bounded number
of bytes sit between them, so a writer never runs more than a few parts ahead of S3, and either
side's failure reaches the other: an aborted writer makes the upload fail (and boto3 abort the
multipart upload), a failed upload makes the next write raise. A part that S3 refuses fails the
transfer at once, but boto3 would go on reading the stream to its end (making the writer encode
the rest for nothing): the reader stops as soon as the transfer reports it has ended.
"""

from __future__ import annotations

import io
import sys
import threading
from collections import deque
from collections.abc import Callable

PIPE_CAPACITY = 2**20            # bytes between a writer and its upload's thread; write() waits beyond
TRANSFER_POLL_SECONDS = 0.2      # how often a reader waiting for the writer checks the transfer


class WriterAborted(Exception):
    """Raised to the upload when its writer gave up, so that boto3 aborts the multipart upload."""


class UploadStopped(Exception):
    """Raised to the writer when its upload ended (failed) before the writer did."""


class TransferEnded(Exception):
    """Raised to boto3's reader when the transfer already failed (a part was refused)."""


class UploadStream(io.RawIOBase):
    """The writable end of a streamed upload (what :meth:`Storage.open_write` yields for S3).

    Bytes pass to the upload's thread through a buffer of at most ``capacity`` bytes: ``write``
    waits while it is full, so a writer never runs more than a few parts ahead of S3.
    ``peak_unsent_bytes`` is the most bytes ever written but not yet sent to S3: what the stream
    and boto3 held between them, whatever the object's size.
    """

    def __init__(self, capacity: int) -> None:
        super().__init__()
        self._capacity = capacity
        self._chunks: deque[bytes] = deque()
        self._buffered = 0
        self._state = threading.Condition()
        self._writing_done = False
        self._aborted = False
        self._reader_gone = False
        self._written = 0
        self._sent = 0
        self.peak_unsent_bytes = 0
        self.reader = _StreamReader(self)
        self._transfer_ended: Callable[[], bool] = lambda: False

    def watch_transfer(self, ended: Callable[[], bool]) -> None:
        """``ended()`` says the transfer reading this stream is over (it failed while still
        reading): the reader then stops instead of reading the rest."""
        self._transfer_ended = ended

    # -- the writer's side -------------------------------------------------------------------
    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        if self.closed:
            raise ValueError("write to a closed upload stream")
        view = memoryview(data).cast("B")
        for start in range(0, len(view), self._capacity):
            self._put(bytes(view[start:start + self._capacity]))
        return len(view)

    def close(self) -> None:
        """The end of the object: the upload completes once it has sent everything."""
        with self._state:
            self._writing_done = True
            self._state.notify_all()
        super().close()

    def abort(self) -> None:
        """Give up: the upload fails at its next read, and nothing appears."""
        with self._state:
            self._aborted = True
            self._state.notify_all()
        super().close()

    def _put(self, chunk: bytes) -> None:
        with self._state:
            self._state.wait_for(lambda: self._buffered + len(chunk) <= self._capacity or self._reader_gone)
            if self._reader_gone:
                raise UploadStopped("the upload ended before the stream did")
            self._chunks.append(chunk)
            self._buffered += len(chunk)
            self._written += len(chunk)
            self.peak_unsent_bytes = max(self.peak_unsent_bytes, self._written - self._sent)
            self._state.notify_all()

    # -- the upload's side -------------------------------------------------------------------
    def count_sent(self, amount: int) -> None:
        """boto3's progress callback: bytes sent (negative when a part is retried)."""
        with self._state:
            self._sent += amount

    def stop_reading(self) -> None:
        with self._state:
            self._reader_gone = True
            self._state.notify_all()

    def read_up_to(self, size: int) -> bytes:
        """Exactly ``size`` bytes (all the rest if negative), fewer only at the end of the stream.

        boto3 makes one part of each read, and S3 refuses parts under 5 MiB but the last, so a
        read waits for the writer rather than return what happens to be buffered.
        """
        pieces: list[bytes] = []
        wanted = size if size >= 0 else sys.maxsize
        with self._state:
            while wanted > 0:
                while not self._state.wait_for(lambda: self._chunks or self._writing_done or self._aborted,
                                               TRANSFER_POLL_SECONDS):
                    self._check_transfer()
                self._check_transfer()
                if self._aborted:
                    raise WriterAborted("the writer gave up; the upload is abandoned")
                if not self._chunks:
                    break  # the end of the stream
                piece = self._take(wanted)
                pieces.append(piece)
                wanted -= len(piece)
        return b"".join(pieces)

    def _check_transfer(self) -> None:
        if self._transfer_ended():
            raise TransferEnded("the transfer has already failed; the rest of the stream is not read")

    def _take(self, wanted: int) -> bytes:
        chunk = self._chunks.popleft()
        if len(chunk) > wanted:
            self._chunks.appendleft(chunk[wanted:])
            chunk = chunk[:wanted]
        self._buffered -= len(chunk)
        self._state.notify_all()
        return chunk


class _StreamReader:
    """The readable, non-seekable end that boto3 uploads from (it reads one part at a time)."""

    def __init__(self, stream: UploadStream) -> None:
        self._stream = stream

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def read(self, size: int = -1) -> bytes:
        return self._stream.read_up_to(size)


class BackgroundUpload:
    """Runs an upload in its own thread and keeps its failure for the writer's thread."""

    def __init__(self, upload: Callable[[], object], on_exit: Callable[[], None]) -> None:
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(upload, on_exit), name="s3-upload",
                                        daemon=True)
        self._thread.start()

    def _run(self, upload: Callable[[], object], on_exit: Callable[[], None]) -> None:
        try:
            upload()
        except BaseException as exc:  # noqa: BLE001  (anything: the writer must not think it succeeded)
            self.error = exc
        finally:
            on_exit()

    def wait(self) -> None:
        self._thread.join()
