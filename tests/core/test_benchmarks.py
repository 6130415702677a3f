"""The benchmarks run on CPU in their small form and print their tables (timings are not asserted)."""
import os
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"


def run(script, *args):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, str(BENCH / script), *args], capture_output=True, text=True, env=env,
                         timeout=300, cwd=BENCH)
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout.strip().splitlines()


def test_overhead_ends_with_the_ratio():
    lines = run("overhead.py", "--device", "cpu", "--quick", "--pairs", "2")
    assert lines[-1].startswith("ratio ") and float(lines[-1].split()[1]) > 0


def test_throughput_compares_fast_and_plain_paths():
    lines = run("throughput.py", "--device", "cpu", "--quick", "--recipes", "cyclegan", "--batches", "1",
                "--size", "32", "--warmup", "1", "--steps", "1")
    rows = [line.split() for line in lines if line.startswith("cyclegan")]
    assert [row[2] for row in rows] == ["fp32", "fast"]


def test_ddp_scaling_table():
    lines = run("ddp.py", "--device", "cpu", "--quick", "--max", "2", "--warmup", "1", "--steps", "1")
    assert [line.split()[0] for line in lines[-2:]] == ["1", "2"]
