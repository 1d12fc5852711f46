"""Time the pipeline against one `mlflow run . -e train`, side by side, and print a table.

Every repeat measures every scenario in turn on scratch stores, so that machine noise falls
on all of them alike; the table shows medians. Peak memory is the largest resident set of any
single process of a command (`mlflow run` and the step process it starts).

    python bench/bench.py                 # 3 repeats, a few minutes on 2 cores
    python bench/bench.py --repeats 5 --markdown bench/RESULTS.md
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
SWEEP = ["0.01", "0.03", "0.1", "0.3", "1", "3", "10", "30"]
# Reports the peak RSS (KiB) of the largest process among a command's descendants.
MEASURE = (
    "import resource, subprocess, sys; "
    "code = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, "
    "stderr=subprocess.DEVNULL).returncode; "
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); sys.exit(code)"
)


@dataclass
class Sample:
    seconds: list[float] = field(default_factory=list)
    peak_kib: list[int] = field(default_factory=list)


class Bench:
    def __init__(self, scratch: Path) -> None:
        self.scratch = scratch
        self.samples: dict[str, Sample] = {}
        self.prepare_counts: dict[str, list[int]] = {}

    def env(self, store: Path) -> dict[str, str]:
        bin_dir = str(Path(sys.executable).parent)
        return {
            **os.environ,
            "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
            "MLFLOW_TRACKING_URI": f"sqlite:///{store}",
        }

    def new_store(self, name: str) -> Path:
        folder = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=self.scratch))
        store = folder / "mlflow.db"
        subprocess.run(
            [sys.executable, "-m", "orchestration.init_store"],
            cwd=folder,
            env=self.env(store),
            check=True,
            capture_output=True,
        )
        return store

    def time(self, name: str, command: list[str], store: Path) -> None:
        start = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-c", MEASURE, *command],
            cwd=PROJECT,
            env=self.env(store),
            capture_output=True,
            text=True,
        )
        elapsed = time.perf_counter() - start
        if done.returncode != 0:
            raise SystemExit(f"{name} failed: {' '.join(command)}\n{done.stderr}")
        sample = self.samples.setdefault(name, Sample())
        sample.seconds.append(elapsed)
        sample.peak_kib.append(int(done.stdout.split()[-1]))

    def prepare_runs(self, store: Path, expression: str) -> str:
        """Evaluate `expression` over the store's `prepare` runs (`runs`), in a fresh process
        so that this one never imports MLflow."""
        code = (
            "import mlflow; runs = mlflow.search_runs(search_all_experiments=True, "
            "filter_string=\"tags.`titanic.step` = 'prepare'\", output_format='list'); "
            f"print({expression})"
        )
        return subprocess.run(
            [sys.executable, "-c", code],
            env=self.env(store),
            check=True,
            capture_output=True,
            text=True,
        ).stdout.split()[-1]

    def count_prepares(self, name: str, store: Path) -> None:
        """How many sweep runs computed prepare rather than reusing it."""
        computed = self.prepare_runs(
            store, "sum('titanic.reused_from' not in r.data.tags for r in runs)"
        )
        self.prepare_counts.setdefault(name, []).append(int(computed))

    def repeat(self, index: int) -> None:
        mlflow_run = ["mlflow", "run", str(PROJECT), "--env-manager", "local"]
        store = self.new_store("pipeline")
        self.time("floor: mlflow --version", ["mlflow", "--version"], store)
        self.time("main, cold (empty store)", mlflow_run, store)
        prepared = self.prepare_runs(store, "runs[0].data.tags['titanic.output.prepared']")
        self.time(
            "mlflow run . -e train",
            [*mlflow_run, "-e", "train", "-P", f"prepared={prepared}"],
            store,
        )
        self.time("main, nothing changed", mlflow_run, store)
        self.time("main, only C changed", [*mlflow_run, "-P", f"C={0.5 + index}"], store)

        store = self.new_store("sequential")
        loop = f"for C in {' '.join(SWEEP)}; do {' '.join(mlflow_run)} -P C=$C || exit 1; done"
        self.time("sweep of 8 C, one after another", ["bash", "-c", loop], store)
        self.count_prepares("sweep of 8 C, one after another", store)

        store = self.new_store("parallel")
        xargs = (
            f"printf '%s\\n' {' '.join(SWEEP)} | xargs -P 2 -I{{}} {' '.join(mlflow_run)} -P C={{}}"
        )
        self.time("sweep of 8 C, xargs -P 2", ["bash", "-c", xargs], store)
        self.count_prepares("sweep of 8 C, xargs -P 2", store)

    def report(self, repeats: int) -> str:
        def median(name: str) -> float:
            return statistics.median(self.samples[name].seconds)

        train = median("mlflow run . -e train")
        lines = [
            f"Machine: {platform.machine()}, {os.cpu_count()} cores, {_cpu_model()}, "
            f"Python {platform.python_version()}, mlflow {version('mlflow')}, "
            f"scikit-learn {version('scikit-learn')}, pandas {version('pandas')}",
            f"Medians of {repeats} repeats, measured side by side.",
            "",
            "| scenario | median s | × train | peak RSS MiB |",
            "|---|---:|---:|---:|",
        ]
        for name, sample in self.samples.items():
            lines.append(
                f"| {name} | {median(name):.2f} | {median(name) / train:.2f} | "
                f"{max(sample.peak_kib) / 1024:.0f} |"
            )
        sequential = median("sweep of 8 C, one after another")
        parallel = median("sweep of 8 C, xargs -P 2")
        checks = [
            ("cold main ≤ 1.3 × train", median("main, cold (empty store)") / train, 1.3),
            ("main, nothing changed ≤ 0.8 × train", median("main, nothing changed") / train, 0.8),
            ("parallel sweep ≤ 0.7 × sequential sweep", parallel / sequential, 0.7),
        ]
        lines += ["", "| target | measured | met |", "|---|---:|---|"]
        lines += [
            f"| {label} | {value:.2f} | {'yes' if value <= bound else 'NO'} |"
            for label, value, bound in checks
        ]
        for name, counts in self.prepare_counts.items():
            lines.append(
                f"| {name}: prepare computed once | {counts} times | "
                f"{'yes' if set(counts) == {1} else 'NO'} |"
            )
        return "\n".join(lines)


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--markdown", type=Path, help="also write the table to this file")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="titanic-bench-") as scratch:
        bench = Bench(Path(scratch))
        for index in range(args.repeats):
            print(f"repeat {index + 1}/{args.repeats} ...", file=sys.stderr, flush=True)
            bench.repeat(index)
    table = bench.report(args.repeats)
    print(table)
    if args.markdown:
        args.markdown.write_text(
            f"# Benchmark results\n\n`python bench/bench.py --repeats "
            f"{args.repeats}` on {time.strftime('%Y-%m-%d')}.\n\n{table}\n"
        )


if __name__ == "__main__":
    main()
