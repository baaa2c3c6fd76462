"""``python -m bench`` (from the repository root): see bench/run.py."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))  # tests/support: the moto server

from bench.run import main

sys.exit(main())
