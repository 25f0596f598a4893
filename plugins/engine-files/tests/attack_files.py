"""An attack on the file output's promises: many processes and threads logging through rotation,
compression and retention, optionally killed with SIGKILL at random moments, then every file
checked.

Run it on its own for the figures (the tests run it with small bounds)::

    python plugins/engine-files/tests/attack_files.py /tmp/attack --seconds 60 --processes 4 \
        --threads 4 --max-bytes 256KiB --compress gzip

Each writer thread logs entries numbered 0, 1, 2... and, after each logging call returns, records
the count it has acknowledged in a shared memory-mapped file (which survives SIGKILL). At the end
every acknowledged entry must be in exactly one file (the live one, a rotated one or a compressed
one), every compressed file must decompress, and no line may hold parts of two entries. What it
prints (one JSON object) are the counts: acknowledged, found, missing, duplicated, torn lines,
glued lines, corrupt compressed files, temporary files left, rotated files left, and the
problem reports the writers printed on stderr.
"""

from __future__ import annotations

import argparse
import gzip
import json
import mmap
import random
import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

_SLOT = 8  # bytes per writer thread in the acknowledgement file


def _size(text: str) -> int:
    from llmlog.ext import parse_size

    return int(text) if text.isdigit() else parse_size(text)


def worker(args: argparse.Namespace) -> None:
    """One writer process: ``--threads`` threads logging until the deadline."""
    import llmlog

    rotation: dict[str, object] = {"max_bytes": args.max_bytes, "compress": args.compress}
    if args.max_files:
        rotation["max_files"] = args.max_files
    if args.when == "tick":
        # Rotation by time, made fast: the real time rotation with a clock whose "hour"
        # changes five times a second (the same in every process).
        import llmlog_engine_files.rotation

        llmlog_engine_files.rotation._period = lambda when, seconds: (
            str(int(seconds * 5)) if when != "never" else ""
        )
        rotation["when"] = "hourly"
    elif args.when != "never":
        rotation["when"] = args.when
    llmlog.configure(
        {
            "level": "info",
            "outputs": {
                "file": {
                    "type": "file",
                    "path": str(Path(args.dir) / "app.log"),
                    "formatter": "json",
                    "buffer_size": args.buffer,
                    "rotation": rotation,
                }
            },
        }
    )
    log = llmlog.get_logger()
    with open(Path(args.dir) / "acks.bin", "r+b") as fh:
        acks = mmap.mmap(fh.fileno(), 0)
    deadline = time.monotonic() + args.seconds
    pad = "x" * args.pad

    def run(thread: int) -> None:
        slot = (args.worker_id * args.threads + thread) * _SLOT
        i = 0
        while time.monotonic() < deadline:
            log.info("attack", w=args.worker_id, t=thread, i=i, pad=pad)
            i += 1
            acks[slot : slot + _SLOT] = i.to_bytes(_SLOT, "little")
            if args.slow:
                time.sleep(1.0)

    threads = [threading.Thread(target=run, args=(t,)) for t in range(args.threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    llmlog.shutdown()


def _open_compressed(path: Path) -> bytes:
    if path.name.endswith(".gz"):
        return gzip.decompress(path.read_bytes())
    import zstandard

    reader = zstandard.ZstdDecompressor().stream_reader(path.read_bytes(), read_across_frames=True)
    return reader.read()


_ENTRY = re.compile(rb'"message":"attack"')


def check(directory: Path, writers: int, threads: int) -> dict[str, object]:
    """Read every file the run left and count what the promises say cannot happen."""
    acks_data = (directory / "acks.bin").read_bytes()
    acknowledged = {
        (w, t): int.from_bytes(
            acks_data[(w * threads + t) * _SLOT : (w * threads + t + 1) * _SLOT], "little"
        )
        for w in range(writers)
        for t in range(threads)
    }
    seen: Counter[tuple[int, int, int]] = Counter()
    torn = glued = corrupt = plain_in_compressed = 0
    temporaries = [p.name for p in directory.iterdir() if p.name.endswith(".tmp")]
    lock = directory / "app.log.lock"
    in_lock = len(_ENTRY.findall(lock.read_bytes())) if lock.exists() else 0
    rotated = 0
    for path in sorted(directory.iterdir()):
        name = path.name
        if not name.startswith("app.") or name.endswith((".lock", ".tmp")):
            continue
        if name.endswith((".gz", ".zst")):
            rotated += 1
            try:
                data = _open_compressed(path)
            except Exception:
                corrupt += 1
                plain_in_compressed += len(_ENTRY.findall(path.read_bytes()))
                continue
        else:
            rotated += name != "app.log"
            data = path.read_bytes()
        for line in data.split(b"\n"):
            if not line:
                continue
            if line.count(b'{"') > 1 and len(_ENTRY.findall(line)) > 1:
                glued += 1
            try:
                record = json.loads(line)
            except ValueError:
                torn += 1
                continue
            seen[(record["w"], record["t"], record["i"])] += 1
    total_ack = sum(acknowledged.values())
    missing = 0
    for (w, t), count in acknowledged.items():
        missing += sum(1 for i in range(count) if seen[(w, t, i)] == 0)
    duplicated = sum(n - 1 for n in seen.values() if n > 1)
    reports: Counter[str] = Counter()
    for err in directory.glob("worker-*.err"):
        for line in err.read_text("utf-8", "replace").splitlines():
            if line.startswith("llmlog: "):
                reports[line.replace(str(directory), "DIR")[:120]] += 1
    return {
        "acknowledged": total_ack,
        "found": sum(seen.values()),
        "missing": missing,
        "duplicated": duplicated,
        "torn_lines": torn,
        "glued_lines": glued,
        "corrupt_compressed": corrupt,
        "entries_inside_corrupt_compressed": plain_in_compressed,
        "entries_in_lock_file": in_lock,
        "temporary_files_left": len(temporaries),
        "rotated_files_left": rotated,
        "reports": dict(reports.most_common(8)),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dir")
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--processes", type=int, default=4)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--max-bytes", type=_size, default=256 * 1024)
    parser.add_argument("--max-files", type=int, default=0)
    parser.add_argument("--compress", default="gzip", choices=["none", "gzip", "zstd"])
    parser.add_argument("--when", default="never", choices=["never", "hourly", "daily", "tick"])
    parser.add_argument("--buffer", type=_size, default=0)
    parser.add_argument("--pad", type=int, default=100)
    parser.add_argument("--kill-every", type=float, default=0, help="SIGKILL a writer this often")
    parser.add_argument(
        "--slow-writers", type=int, default=0, help="extra one-line-a-second writers"
    )
    parser.add_argument("--worker-id", type=int, default=-1, help=argparse.SUPPRESS)
    parser.add_argument("--slow", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker_id >= 0:
        worker(args)
        return 0
    directory = Path(args.dir)
    directory.mkdir(parents=True, exist_ok=True)
    for old in directory.iterdir():
        old.unlink()
    # Killed writers are replaced by new ones with new ids: room for plenty.
    capacity = (
        args.processes
        + args.slow_writers
        + (int(args.seconds / args.kill_every) + 1 if args.kill_every else 0)
    )
    (directory / "acks.bin").write_bytes(b"\0" * (capacity * args.threads * _SLOT))
    next_id = 0
    running: list[subprocess.Popen[bytes]] = []

    def start(slow: bool = False, seconds: float = args.seconds) -> None:
        nonlocal next_id
        command = [
            sys.executable,
            __file__,
            str(directory),
            "--worker-id",
            str(next_id),
            "--seconds",
            str(seconds),
            "--threads",
            str(args.threads),
            "--max-bytes",
            str(args.max_bytes),
            "--max-files",
            str(args.max_files),
            "--compress",
            args.compress,
            "--when",
            args.when,
            "--buffer",
            str(args.buffer),
            "--pad",
            str(args.pad),
        ] + (["--slow"] if slow else [])
        err = open(directory / f"worker-{next_id}.err", "wb")  # noqa: SIM115
        running.append(subprocess.Popen(command, stderr=err))
        next_id += 1

    started = time.monotonic()
    for _ in range(args.processes):
        start()
    for _ in range(args.slow_writers):
        start(slow=True)
    killed = 0
    rng = random.Random(7)
    if args.kill_every:
        while time.monotonic() - started < args.seconds - args.kill_every:
            time.sleep(args.kill_every * rng.uniform(0.5, 1.5))
            alive = [p for p in running if p.poll() is None]
            if alive:
                victim = rng.choice(alive[: args.processes])
                victim.send_signal(signal.SIGKILL)
                victim.wait()
                killed += 1
                start(seconds=max(1.0, args.seconds - (time.monotonic() - started)))
    for process in running:
        process.wait(timeout=args.seconds + 120)
    result = check(directory, next_id, args.threads)
    result["killed"] = killed
    result["writers"] = next_id
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
