"""The resumable output of a long run: Parquet shards, a small state file, atomic renames.

A run over ``n`` images writes its rows in shards of ``shard_size`` images, in source order,
into a folder beside the output (``tags.parquet`` -> ``tags.parquet.parts/``). Each shard is
written to a temporary file, flushed to disk and renamed into place, so a shard file is
either complete or absent, whatever moment the process is killed at (SIGKILL included). The
state file records what the run is (command, settings, a hash of the image list, shard size),
so ``--resume`` continues only the same run.

When every shard is there, :meth:`ShardedOutput.finish` concatenates them in order, writes
the errors table and then the output (each through a temporary file and a rename), and
removes the parts folder. A resumed run therefore ends with exactly the table an
uninterrupted run writes: every image once, in source order.

Without ``resume`` an existing output (or an unfinished run) is an error, never overwritten
silently; ``overwrite`` starts again.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import polars as pl

from prime_rs.errors import InputError
from prime_rs.io import output_format, read_table, write_table

__all__ = ["ERROR_COLUMNS", "STATE_FORMAT", "ShardedOutput", "errors_path", "parts_path"]

logger = logging.getLogger("prime_rs")

#: Version of the state file layout.
STATE_FORMAT = 1
#: Columns of an errors table.
ERROR_COLUMNS = ("id", "path", "error")
_METADATA_KEY = "prime_rs"


def parts_path(output: str | Path) -> Path:
    """The folder holding an unfinished run's shards: ``OUT.parts`` beside ``OUT``.

    Examples
    --------
    >>> parts_path("out/tags.parquet").as_posix()
    'out/tags.parquet.parts'
    """
    p = Path(output)
    return p.with_name(p.name + ".parts")


def errors_path(output: str | Path) -> Path:
    """The errors table beside an output: ``tags.parquet`` -> ``tags.errors.parquet``.

    Examples
    --------
    >>> errors_path("out/tags.csv").as_posix()
    'out/tags.errors.csv'
    """
    p = Path(output)
    return p.with_name(f"{p.stem}.errors{p.suffix}")


def _fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):  # not every OS or file system allows it
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _atomic_write(path: Path, write: Any) -> None:
    """Call ``write(tmp)`` on a temporary file beside ``path``, flush it, rename it over."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}{path.suffix}")
    try:
        write(tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    _fsync_dir(path.parent)


@dataclass(frozen=True)
class _Done:
    shards: int
    total: int


class ShardedOutput:
    """One resumable output: open it, write the pending shards, then :meth:`finish`.

    Parameters
    ----------
    output
        The final table (``.parquet``, ``.csv``, ``.jsonl`` or ``.json``).
    ids
        The ids of every image of the run, in order (shard ``k`` holds positions
        ``k * shard_size`` to ``(k + 1) * shard_size - 1``).
    command
        ``tag`` or ``predict``: a run of one command never resumes another.
    settings
        Everything that changes the values written (model, thresholds, preprocessing):
        ``--resume`` refuses a run whose settings differ.
    fingerprint
        A hash of the image list (:meth:`ImageSource.fingerprint`).
    shard_size
        Images per shard. A resumed run keeps the shard size it started with.
    metadata
        More JSON stored in the finished Parquet output's metadata (not in the state file),
        e.g. the full tag selection rule ``prime retag`` starts from.
    resume, overwrite
        What to do with an existing output or unfinished run (see the module docstring).

    Examples
    --------
    >>> import tempfile, pathlib, polars as pl
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "t.parquet"
    >>> run = ShardedOutput(out, ids=["a", "b", "c"], command="tag", settings={},
    ...                     fingerprint="f", shard_size=2)
    >>> for k in run.pending():
    ...     ids = [run.ids[i] for i in run.positions(k)]
    ...     run.write_shard(k, pl.DataFrame({"id": ids, "path": ids, "error": [None] * len(ids)},
    ...                                     schema_overrides={"error": pl.String}))
    >>> table, errors = run.finish()
    >>> table["id"].to_list(), errors.height, out.exists()
    (['a', 'b', 'c'], 0, True)
    """

    def __init__(
        self,
        output: str | Path,
        *,
        ids: Sequence[object],
        command: str,
        settings: dict[str, Any],
        fingerprint: str,
        shard_size: int = 1024,
        metadata: dict[str, Any] | None = None,
        resume: bool = False,
        overwrite: bool = False,
    ) -> None:
        self.output = Path(output)
        if self.output.is_dir():
            raise InputError(f"{self.output}: is a folder; give a file name such as tags.parquet")
        output_format(self.output)  # an unknown extension fails now, not after the run
        if isinstance(shard_size, bool) or not isinstance(shard_size, int) or shard_size < 1:
            raise InputError(f"--shard-size must be a positive integer, got {shard_size!r}")
        self.ids = list(ids)
        self.command = command
        self.settings = json.loads(json.dumps(settings))  # plain JSON values, as stored
        self.fingerprint = fingerprint
        self.extra_metadata = json.loads(json.dumps(metadata or {}))
        self.parts = parts_path(self.output)
        self.errors = errors_path(self.output)
        self.state_file = self.parts / "state.json"
        self._lock: IO[bytes] | None = None
        self.resumed = _Done(0, 0)
        self.complete = False
        self.shard_size = shard_size
        try:
            self._open(resume=resume, overwrite=overwrite)
        except BaseException:
            self._release()
            raise

    # -- opening -----------------------------------------------------------------------

    def _state(self) -> dict[str, Any]:
        return {
            "format": STATE_FORMAT,
            "command": self.command,
            "output": self.output.name,
            "n_images": len(self.ids),
            "shard_size": self.shard_size,
            "fingerprint": self.fingerprint,
            "settings": self.settings,
        }

    def _open(self, *, resume: bool, overwrite: bool) -> None:
        unfinished = self.parts.exists()
        existing = [p for p in (self.output, self.errors) if p.exists()]
        if overwrite:
            if unfinished:
                self._take_lock(create=False)
                shutil.rmtree(self.parts)
                self._release()
            for p in existing:
                p.unlink()
        elif unfinished:
            if not resume:
                raise InputError(
                    f"{self.output}: an unfinished run is there ({self.parts}); add --resume to "
                    "continue it, or --overwrite to start again"
                )
            self._take_lock(create=False)
            self._check_state()
            done = len(self._verified())
            self.resumed = _Done(done, self.n_shards)
            return
        elif existing:
            if resume and self.output.exists():
                self._check_finished()
                self.complete = True
                return
            raise InputError(
                f"{existing[0]}: already exists; add --overwrite to replace it"
                + (" (or --resume to continue an unfinished run)" if not resume else "")
            )
        self.parts.mkdir(parents=True, exist_ok=False)
        self._take_lock(create=True)
        _atomic_write(self.state_file, lambda tmp: tmp.write_text(json.dumps(self._state())))

    def _take_lock(self, *, create: bool) -> None:
        try:
            import fcntl
        except ImportError:  # Windows: no advisory locks, no guard
            return
        lock = self.parts / ".lock"
        if not create and not self.parts.is_dir():
            return
        f = open(lock, "ab")  # noqa: SIM115 (held for the run)
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            f.close()
            raise InputError(
                f"{self.output}: another prime command is writing this output right now"
            ) from None
        self._lock = f

    def _release(self) -> None:
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    def close(self) -> None:
        """Release the lock (the shards written so far stay, for ``--resume``)."""
        self._release()

    def _check_state(self) -> None:
        try:
            state = json.loads(self.state_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            raise InputError(
                f"{self.parts}: the state file of the unfinished run is missing or unreadable; "
                "start again with --overwrite"
            ) from None
        if state.get("format") != STATE_FORMAT or state.get("command") != self.command:
            raise InputError(
                f"{self.parts}: holds an unfinished `prime {state.get('command')}` run, not "
                f"`prime {self.command}`; use another output, or --overwrite"
            )
        if state.get("n_images") != len(self.ids) or state.get("fingerprint") != self.fingerprint:
            raise InputError(
                f"{self.output}: the images changed since the run started ({state.get('n_images')}"
                f" images then, {len(self.ids)} now, or other ids/paths); --resume continues "
                "only the same run: use --overwrite to start again"
            )
        diff = _differences(state.get("settings", {}), self.settings)
        if diff:
            raise InputError(
                f"{self.output}: the unfinished run used other settings ({'; '.join(diff)}); "
                "resume it with the same options, or start again with --overwrite"
            )
        self.shard_size = int(state["shard_size"])

    def _check_finished(self) -> None:
        """A finished Parquet output records its run: refuse to call it done if it differs."""
        if output_format(self.output) != "parquet":
            return
        try:
            meta = pl.read_parquet_metadata(self.output).get(_METADATA_KEY)
        except Exception:
            return
        if not meta:
            return
        state = json.loads(meta)
        same = (
            state.get("command") == self.command
            and state.get("fingerprint") == self.fingerprint
            and not _differences(state.get("settings", {}), self.settings)
        )
        if not same:
            raise InputError(
                f"{self.output}: already exists and was made by another run (other images or "
                "settings); add --overwrite to replace it"
            )

    # -- shards ------------------------------------------------------------------------

    @property
    def n_shards(self) -> int:
        """Number of shards of the whole run."""
        return -(-len(self.ids) // self.shard_size)

    def shard_file(self, k: int) -> Path:
        """The file of shard ``k``."""
        return self.parts / f"shard-{k:06d}.parquet"

    def positions(self, k: int) -> range:
        """Positions (in the image list) of the images of shard ``k``."""
        return range(k * self.shard_size, min((k + 1) * self.shard_size, len(self.ids)))

    def _valid(self, k: int) -> bool:
        f = self.shard_file(k)
        if not f.is_file():
            return False
        try:
            ids = pl.read_parquet(f, columns=["id"])["id"].to_list()
        except Exception:
            ids = None
        expected = [self.ids[i] for i in self.positions(k)]
        if ids != expected:
            logger.warning("%s: shard %d does not hold the expected images; redoing it", f, k)
            f.unlink()
            return False
        return True

    def _verified(self) -> list[int]:
        """Shards already written, each checked to hold its images (bad ones are removed)."""
        return [k for k in range(self.n_shards) if self._valid(k)]

    def pending(self) -> list[int]:
        """Shards still to compute, in order (none once the output is complete)."""
        if self.complete:
            return []
        return [k for k in range(self.n_shards) if not self.shard_file(k).is_file()]

    def write_shard(self, k: int, rows: pl.DataFrame) -> None:
        """Write shard ``k`` atomically. ``rows`` holds its images in order, with an ``error``
        column (null where the image was processed)."""
        expected = [self.ids[i] for i in self.positions(k)]
        if rows["id"].to_list() != expected:
            raise AssertionError(f"shard {k} rows do not match its images")
        if "error" not in rows.columns:
            raise AssertionError("shard rows need an 'error' column")
        _atomic_write(self.shard_file(k), rows.write_parquet)

    # -- finishing ---------------------------------------------------------------------

    def _metadata(self) -> dict[str, str]:
        state = self._state()
        state.pop("shard_size")
        state.update(self.extra_metadata)
        return {_METADATA_KEY: json.dumps(state)}

    def finish(self) -> tuple[pl.DataFrame, pl.DataFrame]:
        """Concatenate the shards, write the errors table and the output, remove the parts.

        Returns the output table and the errors table (``id, path, error``). On an output
        that was already complete, reads it back instead.
        """
        if self.complete:
            errors = (
                read_table(self.errors)
                if self.errors.exists()
                else pl.DataFrame(schema=dict.fromkeys(ERROR_COLUMNS, pl.String))
            )
            return read_table(self.output), errors
        missing = self.pending()
        if missing:
            raise AssertionError(f"shards {missing[:5]} are not written yet")
        frames = [pl.read_parquet(self.shard_file(k)) for k in range(self.n_shards)]
        rows = pl.concat(frames, how="vertical") if frames else pl.DataFrame()
        failed = rows["error"].is_not_null()
        errors = rows.filter(failed).select(ERROR_COLUMNS)
        table = rows.filter(~failed).drop("error")
        self._write(errors, self.errors)
        self._write(table, self.output)
        self._release()
        shutil.rmtree(self.parts)
        for stale in (self.output, self.errors):  # temporary files of a run killed here before
            for tmp in stale.parent.glob(f".{stale.name}.tmp-*"):
                with contextlib.suppress(OSError):
                    tmp.unlink()
        _fsync_dir(self.output.parent)
        self.complete = True
        return table, errors

    def _write(self, df: pl.DataFrame, path: Path) -> None:
        if output_format(path) == "parquet":
            meta = self._metadata()
            _atomic_write(path, lambda tmp: df.write_parquet(tmp, metadata=meta))
        else:
            _atomic_write(path, lambda tmp: write_table(df, tmp))

    @contextlib.contextmanager
    def locked(self) -> Iterator[ShardedOutput]:
        """Hold the output for a ``with`` block and release it at the end, however it ends."""
        try:
            yield self
        finally:
            self.close()


def _differences(before: dict[str, Any], now: dict[str, Any]) -> list[str]:
    out = []
    for key in sorted(set(before) | set(now)):
        if before.get(key) != now.get(key):
            out.append(f"{key}: {_show(before.get(key))} then, {_show(now.get(key))} now")
    return out


def _show(value: Any) -> str:
    text = json.dumps(value)
    return text if len(text) <= 60 else text[:57] + "..."
