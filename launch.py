"""Start Parlor: the same as ``parlor serve`` (all its flags work here too)."""

import sys

from app.cli import main

if __name__ == "__main__":
    sys.exit(main(["serve", *sys.argv[1:]]))
