"""``python -m expsvc``: the same as the ``expsvc`` command."""

from expsvc.cli import app

if __name__ == "__main__":
    app(prog_name="expsvc")
