"""`python -m mscli.devtools completions|man|readme|all [--check]`: see the package docstring."""

import sys

from mscli.devtools import main

if __name__ == "__main__":
    sys.exit(main())
