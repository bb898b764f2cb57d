"""``python -m understudy``: the same command line as the ``understudy`` console script."""

from understudy.cli import main

if __name__ == "__main__":
    main()
