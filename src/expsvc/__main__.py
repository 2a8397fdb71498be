"""``python -m expsvc``: the same as the ``expsvc`` command."""

from expsvc.cli import run

if __name__ == "__main__":
    run()
