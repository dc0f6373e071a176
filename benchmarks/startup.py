"""Start-up time of the `interp` command: `interp --help`, a command's help and an argument error, each in a fresh
Python process, with the heavy modules each one loaded.

    python benchmarks/startup.py                       # this installation
    python benchmarks/startup.py --compare OLD_CHECKOUT  # also an older checkout (its folder first on sys.path)

Each case runs `--repeats` times; the table gives the median wall-clock seconds. Quote ratios measured side by side
in one run on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from interp.benchmarks.common import add_out_argument, machine, markdown_table, write_results

CASES = {
    "interp --help": ["--help"],
    "interp contacts --help": ["contacts", "--help"],
    "unknown --method": ["contacts", "--fasta", "in.fa", "--out", "out", "--method", "nonsense"],
}
HEAVY = ("torch", "transformers", "biotite", "torchmetrics")
PROBE = (
    "import sys\nfrom interp.cli import app\ntry:\n    app(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
    f"print('HEAVY', ','.join(m for m in {HEAVY!r} if m in sys.modules), file=sys.stderr)\n"
)


def run_case(args: list[str], checkout: Path | None) -> tuple[float, str]:
    """Seconds for one fresh process running the command, and the heavy modules it loaded."""
    env = dict(os.environ)
    if checkout is not None:
        env["PYTHONPATH"] = str(checkout)
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True, env=env,
                            check=False, cwd=checkout)  # fmt: skip
    seconds = time.perf_counter() - start
    loaded = next((line.split(" ", 1)[1] for line in result.stderr.splitlines() if line.startswith("HEAVY ")), "?")
    return seconds, loaded or "none"


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Time every case for this installation (and `--compare`); returns the payload written to `--out`."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--compare", type=Path, default=None, help="an older checkout to time beside this one")
    add_out_argument(parser)
    args = parser.parse_args(argv)
    versions: dict[str, Path | None] = {"this": None}
    if args.compare is not None:
        versions["compared"] = args.compare.resolve()
    rows = []
    for case, case_args in CASES.items():
        for label, checkout in versions.items():
            runs = [run_case(case_args, checkout) for _ in range(args.repeats)]
            rows.append({"case": case, "version": label, "median_seconds": statistics.median(r[0] for r in runs),
                         "heavy_modules_loaded": runs[-1][1]})  # fmt: skip
    payload = {"machine": machine(), "compared": str(args.compare) if args.compare else None, "results": rows}
    markdown = "\n".join(["# interp start-up", "", markdown_table(rows, list(rows[0]))])
    path = write_results("startup", payload, markdown, args.out)
    print(path.read_text())
    return payload


if __name__ == "__main__":
    main()
