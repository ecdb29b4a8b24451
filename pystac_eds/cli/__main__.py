"""``python -m pystac_eds.cli``: the same as the ``pystac-eds`` console script."""

import sys

from . import main

sys.exit(main())
