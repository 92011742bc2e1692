"""``python -m epizoo``: the same command line as ``epizoo``."""

from epizoo.cli import main

if __name__ == "__main__":
    main()
