"""`python -m gitbot` is the same program as the `gitbot` console script."""

from gitbot.cli import main

if __name__ == "__main__":
    main()
