"""``python -m walrus_node.bench``: the same as the ``walrus-bench`` command."""

import sys

from walrus_node import bench

sys.exit(bench.main())
