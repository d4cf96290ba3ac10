"""Entry point: ``python benchmarks/run.py --sizes 1000,10000,100000 --out FILE``.

See ``benchmarks/README.md``.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, Python puts benchmarks/ first on the path; import the package from the
# repository root instead (and so never shadow a standard module by a file in here).
sys.path[0] = str(Path(__file__).resolve().parent.parent)

from benchmarks.cli import main  # noqa: E402

if __name__ == "__main__":
    raise SystemExit(main())
