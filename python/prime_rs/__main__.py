"""``python -m prime_rs``: the ``prime`` command line."""

from prime_rs.cli import main

if __name__ == "__main__":
    raise SystemExit(main(prog_name="python -m prime_rs"))
