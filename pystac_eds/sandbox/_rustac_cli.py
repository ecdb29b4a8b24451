"""Run rustac's CLI: ``python _rustac_cli.py serve ...``.

Run by file path, not with ``-c`` or ``-m``: rustac's ``main()`` parses the process's
own argv minus its first word, which only lines up with a script path there.
"""

import sys

# The script's folder (this package) must not shadow anything rustac imports.
del sys.path[0]

from rustac import main  # noqa: E402

from pystac_eds.sandbox._orphan_guard import exit_with_parent  # noqa: E402

exit_with_parent()
sys.exit(main())
