"""``python -m restore.dip``: Deep Image Prior from the command line (see restore/dip/run.py)."""

from restore.dip.run import main

if __name__ == "__main__":
    main()
