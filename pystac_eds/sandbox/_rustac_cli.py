"""Run rustac's CLI: ``python _rustac_cli.py serve ...``.

Run by file path, not with ``-c`` or ``-m``: rustac's ``main()`` parses the process's
own argv minus its first word, which only lines up with a script path there.
"""

import os
import sys

# The script's folder (this package) must not shadow anything rustac imports. The sandbox
# sets PYTHONSAFEPATH, so Python did not add it; a manual run may have.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [entry for entry in sys.path if os.path.abspath(entry or ".") != _HERE]

from rustac import main  # noqa: E402

from pystac_eds.sandbox._orphan_guard import exit_with_parent  # noqa: E402

exit_with_parent()
sys.exit(main())
