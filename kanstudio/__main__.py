"""`python -m kanstudio` is the same as the `kanstudio` command."""

import sys

from kanstudio.cli import main

if __name__ == "__main__":
    sys.exit(main())
