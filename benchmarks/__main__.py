"""`python -m benchmarks [--quick] [--only NAMES] [--out FILE]`: see `benchmarks.runner`."""

import sys

from benchmarks.runner import main

sys.exit(main())
